// Live branching and calculations on an EDC form page. On every change the form's input is
// posted to the page's logic endpoint, where the server's one logic engine answers which fields
// show and what the calculated fields hold. Hidden fields are cleared, as the save would erase
// them. Without JavaScript the page still works: the server evaluates the logic on save.
(function () {
  "use strict";
  var form = document.getElementById("edc-form");
  if (!form) { return; }
  var url = form.getAttribute("data-logic");
  var timer = null;
  var seq = 0;

  function clear(row) {
    var changed = false;
    row.querySelectorAll("input, textarea, select").forEach(function (el) {
      if (el.type === "hidden" || el.form !== form) { return; }
      if (el.type === "checkbox" || el.type === "radio") {
        if (el.checked) { el.checked = false; changed = true; }
      } else if (el.tagName === "SELECT") {
        if (el.selectedIndex > 0) { el.selectedIndex = 0; changed = true; }
      } else if (el.type !== "range" && el.value !== "") {
        el.value = ""; changed = true;
      }
    });
    return changed;
  }

  function apply(answer) {
    var cleared = false;
    Object.keys(answer.show || {}).forEach(function (name) {
      var row = document.getElementById("row-" + name);
      if (!row) { return; }
      var show = answer.show[name] === true;
      if (!show && clear(row)) { cleared = true; }
      row.hidden = !show;
    });
    Object.keys(answer.calc || {}).forEach(function (name) {
      var out = document.getElementById("calc-" + name);
      if (out) { out.textContent = answer.calc[name]; }
    });
    // A cleared answer may change other logic: ask once more.
    if (cleared) { schedule(); }
  }

  function run() {
    var mine = ++seq;
    var body = new URLSearchParams(new FormData(form));
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json" },
      body: body.toString()
    }).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (answer) {
      if (answer && mine === seq) { apply(answer); }
    }).catch(function () { /* the save still applies the logic */ });
  }

  function schedule() {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(run, 150);
  }

  // A slider's range and its number box move together; only the number box is submitted.
  form.querySelectorAll("input[data-slider-for]").forEach(function (range) {
    var box = document.getElementById(range.getAttribute("data-slider-for"));
    if (!box) { return; }
    range.addEventListener("input", function () { box.value = range.value; schedule(); });
    box.addEventListener("input", function () { if (box.value !== "") { range.value = box.value; } });
  });

  form.addEventListener("change", schedule);
  form.addEventListener("input", schedule);
})();
