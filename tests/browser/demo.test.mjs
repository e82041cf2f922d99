// End-to-end walk through the Clinbridge web UI in a real (headless) Chromium.
//
// The test starts `clinbridge demo` on a free port with a throw-away SQLite file, then acts as
// the Boston coordinator: signs in (after one wrong password), reads the work queue, checks the
// page works from the keyboard and that the navigation only offers what the role may use, tries
// things a coordinator must not do, closes a task and signs out.
//
// Run it with `node --test` from this folder (scripts/test.sh does that after building).
//   CLINBRIDGE_BIN   the binary to start (default: <repo>/target/debug/clinbridge)
//   CHROMIUM_PATH    the browser to drive (default: /usr/bin/chromium)
//   CI=true          a missing browser fails the run instead of skipping it

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const RESULTS = path.join(HERE, 'test-results');

const BIN = process.env.CLINBRIDGE_BIN
  ? path.resolve(process.cwd(), process.env.CLINBRIDGE_BIN)
  : path.join(REPO, 'target', 'debug', 'clinbridge');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const IN_CI = process.env.CI === 'true';

const PASSWORD = 'clinbridge-demo-2026';
const COORDINATOR = 'coordinator@demo.clinbridge.org';
const ADMIN = 'admin@demo.clinbridge.org';
const OVERDUE_TASK = 'Call back the referring cardiologist about a pre-screening candidate';
const TASK_TO_CLOSE = "Order ECG electrodes and blood draw kits for next week's visits";

const STARTUP_TIMEOUT_MS = 60_000;
const STEP_TIMEOUT_MS = 60_000;

// Without a browser there is nothing to drive. Locally that is a skip with a clear reason;
// in CI it is a failure, so a broken install step cannot pass as green.
const noBrowser = existsSync(CHROMIUM)
  ? null
  : `Chromium not found at ${CHROMIUM} (install it with: apt-get install chromium, or set CHROMIUM_PATH)`;

/** A TCP port nothing listens on right now. */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The running demo server: its child process, address and everything it printed. */
class DemoServer {
  constructor() {
    this.child = null;
    this.log = '';
    this.exited = null;
    this.dir = null;
    this.base = null;
  }

  async start() {
    if (!existsSync(BIN)) {
      throw new Error(`clinbridge binary not found at ${BIN}: run \`cargo build -p clinbridge\` or set CLINBRIDGE_BIN`);
    }
    this.dir = mkdtempSync(path.join(tmpdir(), 'clinbridge-browser-'));
    const port = await freePort();
    this.base = `http://127.0.0.1:${port}`;
    const db = `sqlite://${path.join(this.dir, 'demo.db')}`;
    this.child = spawn(BIN, ['demo', '--bind', `127.0.0.1:${port}`, '--database-url', db], {
      cwd: this.dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        // No mail or webhook traffic leaves the machine from a test run.
        CLINBRIDGE_SMTP_URL: '',
        CLINBRIDGE_WEBHOOK_URL: '',
        CLINBRIDGE_PUBLIC_URL: '',
      },
    });
    const keep = (chunk) => {
      this.log += chunk.toString();
    };
    this.child.stdout.on('data', keep);
    this.child.stderr.on('data', keep);
    this.child.on('exit', (code, signal) => {
      this.exited = { code, signal };
    });
    this.child.on('error', (err) => {
      this.exited = { error: err.message };
    });
    // If the test process dies on its own, do not leave the server behind.
    process.once('exit', () => this.child && this.exited === null && this.child.kill('SIGKILL'));

    const deadline = Date.now() + STARTUP_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (this.exited !== null) {
        throw new Error(`clinbridge demo exited early (${JSON.stringify(this.exited)}):\n${this.log}`);
      }
      try {
        const res = await fetch(`${this.base}/healthz`, { signal: AbortSignal.timeout(2_000) });
        if (res.status === 200) {
          const body = await res.json();
          assert.equal(body.status, 'ok', `unexpected /healthz body ${JSON.stringify(body)}`);
          return;
        }
      } catch {
        // not listening yet
      }
      await sleep(250);
    }
    throw new Error(`clinbridge demo did not answer /healthz within ${STARTUP_TIMEOUT_MS / 1000} s:\n${this.log}`);
  }

  async stop() {
    if (this.child && this.exited === null) {
      this.child.kill('SIGTERM');
      const deadline = Date.now() + 10_000;
      while (this.exited === null && Date.now() < deadline) await sleep(100);
      if (this.exited === null) this.child.kill('SIGKILL');
    }
    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(path.join(RESULTS, 'server.log'), this.log);
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Fills the sign-in form the way a person would and submits it with Enter. */
async function signIn(page, email, password) {
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill(password);
  const response = page.waitForResponse(
    (r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/login',
  );
  await page.getByLabel('Password').press('Enter');
  const res = await response;
  await page.waitForLoadState('load');
  return res;
}

if (noBrowser && IN_CI) {
  test('Chromium is installed', () => {
    assert.fail(`${noBrowser}; CI=true, so the browser test cannot be skipped`);
  });
} else if (noBrowser) {
  console.log(`SKIPPED browser test: ${noBrowser}`);
  test('demo coordinator in a real browser', { skip: noBrowser }, () => {});
} else {
  describe('demo coordinator in a real browser', { timeout: 5 * 60_000 }, suite);
}

function suite() {
  const server = new DemoServer();
  let browser;
  let context;
  let page;
  const pageProblems = [];
  const failedResponses = [];

  // The steps build on each other (one browser page, one session): after the first failure
  // the rest are skipped rather than failed, so the report points at the real problem.
  let broken = null;
  const step = (name, fn) =>
    test(name, { timeout: STEP_TIMEOUT_MS }, async (t) => {
      if (broken) {
        t.skip(`an earlier step failed: ${broken}`);
        return;
      }
      try {
        await fn();
      } catch (err) {
        broken = name;
        throw err;
      }
    });

  before(async () => {
    await server.start();
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
    });
    context = await browser.newContext({ baseURL: server.base, viewport: { width: 1280, height: 900 } });
    context.setDefaultTimeout(15_000);
    page = await context.newPage();
    // Script errors and console errors (a blocked asset, a CSP violation) are failures too.
    page.on('pageerror', (err) => pageProblems.push(`page error: ${err.message}`));
    // "Failed to load resource" console lines are left to the response check below, which
    // knows the refusals this test provokes on purpose.
    page.on('console', (msg) => {
      if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) {
        pageProblems.push(`console error on ${page.url()}: ${msg.text()}`);
      }
    });
    page.on('response', (res) => {
      if (res.status() >= 400) failedResponses.push(`${res.request().method()} ${new URL(res.url()).pathname} ${res.status()}`);
    });
  }, { timeout: STARTUP_TIMEOUT_MS + 30_000 });

  after(async () => {
    try {
      if (browser) await browser.close();
    } finally {
      await server.stop();
    }
  });

  step('an anonymous visit to the work queue lands on the sign-in page', async () => {
    await page.goto('/');
    assert.equal(new URL(page.url()).pathname, '/login');
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    // The e-mail field has the focus, so a keyboard user can start typing at once.
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'email');
    // No navigation is offered before signing in.
    assert.equal(await page.getByRole('navigation', { name: 'Main' }).count(), 0);
  });

  step('a wrong password is refused with a clear message', async () => {
    const res = await signIn(page, COORDINATOR, 'not-the-password-at-all');
    assert.equal(res.status(), 401);
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.match(await alert.innerText(), /Wrong e-mail or password/);
    assert.equal(new URL(page.url()).pathname, '/login');
    // The e-mail address is kept, the password is not.
    assert.equal(await page.getByLabel('E-mail').inputValue(), COORDINATOR);
    assert.equal(await page.getByLabel('Password').inputValue(), '');
  });

  step('the coordinator signs in and sees the work queue', async () => {
    await signIn(page, COORDINATOR, PASSWORD);
    assert.equal(new URL(page.url()).pathname, '/');
    const h1 = page.getByRole('heading', { level: 1 });
    assert.match(await h1.innerText(), /^Good (morning|afternoon|evening), Maya$/);
    for (const group of ['Overdue', 'Due today', 'Upcoming']) {
      await page.getByRole('heading', { level: 3, name: new RegExp(`^${group}\\b`) }).waitFor();
    }
    const overdue = page.locator('.group', {
      has: page.getByRole('heading', { level: 3, name: /^Overdue\b/ }),
    });
    await overdue.getByText(OVERDUE_TASK, { exact: true }).waitFor();
    await page.getByText(TASK_TO_CLOSE, { exact: true }).waitFor();

    mkdirSync(RESULTS, { recursive: true });
    await page.screenshot({ path: path.join(RESULTS, 'work-queue.png'), fullPage: true });
  });

  step('the navigation offers only what a coordinator may use', async () => {
    const nav = page.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('link', { name: 'Work queue', exact: true }).waitFor();
    await nav.getByRole('link', { name: 'Sites', exact: true }).waitFor();
    for (const forbidden of ['Users', 'Audit log', 'Security']) {
      assert.equal(
        await nav.getByRole('link', { name: forbidden, exact: true }).count(),
        0,
        `a coordinator should not be offered "${forbidden}"`,
      );
    }
    assert.equal(
      await nav.getByRole('link', { name: 'Work queue', exact: true }).getAttribute('aria-current'),
      'page',
    );
  });

  step('the work queue can be used from the keyboard', async () => {
    await page.goto('/');
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => ({
      tag: document.activeElement?.tagName,
      text: document.activeElement?.textContent?.trim(),
    }));
    assert.deepEqual(focused, { tag: 'A', text: 'Skip to content' });
    // The skip link must be on screen while it has the focus.
    const box = await page.getByRole('link', { name: 'Skip to content' }).boundingBox();
    assert.ok(box && box.x >= 0 && box.y >= 0 && box.width > 0, `skip link is off screen: ${JSON.stringify(box)}`);
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'main');
    // Every "Done" button names the task it closes, so a screen reader user knows which one.
    const doneButtons = page.getByRole('button', { name: /^Mark done: / });
    assert.ok((await doneButtons.count()) >= 2);
    await page.getByRole('button', { name: `Mark done: ${TASK_TO_CLOSE}` }).waitFor();
    // The form to add a task has a label on every field.
    for (const label of ['What needs doing', 'Due date', 'Time', 'Notes']) {
      await page.getByLabel(label, { exact: true }).waitFor();
    }
  });

  step('the user administration page is refused', async () => {
    const res = await page.goto('/admin/users');
    assert.equal(res.status(), 403);
    await page.getByRole('heading', { name: 'Not allowed' }).waitFor();
    assert.equal(await page.getByText('admin@demo.clinbridge.org').count(), 0);
  });

  step('the sites page shows only the coordinator\'s site, read-only', async () => {
    const res = await page.goto('/admin/sites');
    assert.equal(res.status(), 200);
    const codes = await page.locator('main table tbody tr td:first-child').allInnerTexts();
    assert.deepEqual(codes.map((c) => c.trim()), ['BOS']);
    assert.equal(await page.getByRole('heading', { name: 'New site' }).count(), 0);
    assert.equal(await page.getByRole('button', { name: 'Save site' }).count(), 0);
  });

  step('creating a site from the page is refused', async () => {
    // The form is not offered, so post it by hand from the signed-in page: same origin,
    // with the session cookie. Only the authorization check stands in the way.
    const outcome = await page.evaluate(async () => {
      const res = await fetch('/admin/sites', {
        method: 'POST',
        body: new URLSearchParams({ code: 'EVIL', name: 'Evil', time_zone: 'UTC', address: 'Nowhere' }),
        redirect: 'manual',
      });
      return { status: res.status, body: await res.text() };
    });
    assert.equal(outcome.status, 403, `expected 403, got ${outcome.status}: ${outcome.body.slice(0, 300)}`);
    assert.doesNotMatch(outcome.body, /cross_site_request/, 'refused as cross-site, not by authorization');
  });

  step('a cross-site form post is refused before it reaches the application', async () => {
    // A page on another site that posts a form to Clinbridge, as a forged-request attack would.
    const attacker = 'http://attacker.invalid';
    const evil = await context.newPage();
    try {
      await evil.route(`${attacker}/**`, (route) =>
        route.fulfill({
          contentType: 'text/html',
          body: `<!doctype html><title>Prize</title>
            <form method="post" action="${server.base}/admin/sites">
              <input name="code" value="EVIL2"><input name="name" value="Evil"><input name="time_zone" value="UTC">
              <button>Claim</button>
            </form>`,
        }),
      );
      await evil.goto(`${attacker}/prize`);
      const response = evil.waitForResponse((r) => r.url() === `${server.base}/admin/sites`);
      await evil.getByRole('button', { name: 'Claim' }).click();
      const res = await response;
      assert.equal(res.status(), 403);
      const body = await res.json();
      assert.equal(body.error?.code, 'cross_site_request');
    } finally {
      await evil.close();
    }
  });

  step('nothing changed: the administrator still sees exactly three sites', async () => {
    const adminContext = await browser.newContext({ baseURL: server.base });
    try {
      const admin = await adminContext.newPage();
      await admin.goto('/login');
      await signIn(admin, ADMIN, PASSWORD);
      assert.equal(new URL(admin.url()).pathname, '/');
      const res = await admin.goto('/admin/sites');
      assert.equal(res.status(), 200);
      const codes = await admin.locator('main table tbody tr td:first-child').allInnerTexts();
      assert.deepEqual(codes.map((c) => c.trim()).sort(), ['BOS', 'CHI', 'SEA']);
      // The administrator is offered the form the coordinator was not.
      await admin.getByRole('heading', { name: 'New site' }).waitFor();
    } finally {
      await adminContext.close();
    }
  });

  step('marking a task done takes it off the queue', async () => {
    await page.goto('/');
    const button = page.getByRole('button', { name: `Mark done: ${TASK_TO_CLOSE}` });
    const response = page.waitForResponse(
      (r) => r.request().method() === 'POST' && /\/tasks\/[^/]+\/done$/.test(new URL(r.url()).pathname),
    );
    await button.click();
    assert.equal((await response).status(), 303);
    // htmx follows the redirect in place and swaps the queue: the confirmation takes focus.
    const confirmation = page.getByRole('status').filter({ hasText: 'Task marked done.' });
    await confirmation.waitFor();
    assert.equal(await confirmation.evaluate((el) => el === document.activeElement), true);
    await page.screenshot({ path: path.join(RESULTS, 'work-queue-after-done.png'), fullPage: true });
    assert.equal(await page.getByText(TASK_TO_CLOSE, { exact: true }).count(), 0);
    // And it stays gone.
    await page.reload();
    await page.getByRole('heading', { level: 1 }).waitFor();
    assert.equal(await page.getByText(TASK_TO_CLOSE, { exact: true }).count(), 0);
    await page.getByText(OVERDUE_TASK, { exact: true }).waitFor();
  });

  let participantUrl = null;
  let subjectId = null;
  let formUrl = null;

  step('the coordinator registers a participant for CARDIO-HF3 at Boston', async () => {
    await page.goto('/studies/CARDIO-HF3');
    await page.getByRole('navigation', { name: 'Study' }).getByRole('link', { name: 'Participants' }).click();
    await page.getByRole('heading', { level: 1, name: /^Participants/ }).waitFor();
    // The funnel is drawn, and only Boston is offered for registration.
    await page.getByRole('img', { name: 'Screening funnel' }).waitFor();
    const form = page.locator('form', { has: page.getByRole('heading', { name: 'Register a participant' }) });
    assert.deepEqual(await form.getByLabel('Site').locator('option').allInnerTexts(), ['BOS']);
    await form.getByLabel('Given name').fill('Eleanor');
    await form.getByLabel('Family name').fill('Whitcombe');
    await form.getByLabel('Date of birth').fill('1956-08-14');
    await form.getByLabel('Medical record number').fill('MRN7734120');
    await form.getByRole('button', { name: 'Register and assign a subject id' }).click();
    await page.waitForURL(/\/participants\/[0-9a-f-]+$/);
    participantUrl = new URL(page.url()).pathname;
    const h1 = await page.getByRole('heading', { level: 1 }).innerText();
    const m = h1.match(/^(BOS-\d{4})\s+Screening$/);
    assert.ok(m, `unexpected heading: ${h1}`);
    subjectId = m[1];
    // The pseudonymous page does not show the name; the contact page does, on request.
    assert.equal(await page.getByText('Whitcombe').count(), 0);
    await page.getByRole('link', { name: 'Show contact details' }).click();
    await page.getByText('This view is recorded in the audit log.').waitFor();
    assert.equal(await page.getByLabel('Family name').inputValue(), 'Whitcombe');
    await page.goto(participantUrl);
  });

  step('the participant signs the eConsent on a kiosk tablet and the coordinator countersigns', async () => {
    const version = page.locator('details', { hasText: 'Consent to version 2.0 (en)' });
    await version.locator('summary').click();
    await version.getByRole('button', { name: 'Open eConsent 2.0 (en) on a tablet' }).click();
    await page.getByRole('heading', { level: 1, name: `eConsent link for ${subjectId}` }).waitFor();
    const link = await page.locator('#kiosk-url').getAttribute('href');
    // The tablet is another browser with nobody signed in: the one-time link is its credential.
    const tabletContext = await browser.newContext({ baseURL: server.base });
    try {
      const tablet = await tabletContext.newPage();
      await tablet.goto(link);
      await tablet.getByRole('heading', { name: 'Why is this study being done?' }).waitFor();
      assert.equal(await tablet.getByRole('link', { name: 'Sign out' }).count(), 0);
      const answer = async (question, choice) =>
        tablet.getByRole('group', { name: question }).getByLabel(choice, { exact: true }).check();
      await answer('Can you stop taking part in the study at any time?', 'Yes');
      await answer('Will you and your doctor know whether you get the study medicine or the placebo?', 'No');
      await answer('Should you tell the study team about any new medicine you start?', 'Yes');
      const boxes = tablet.getByRole('checkbox');
      for (let i = 0; i < (await boxes.count()); i++) {
        await boxes.nth(i).check();
      }
      await tablet.getByLabel('Type your full name to sign').fill('Eleanor Whitcombe');
      await tablet.screenshot({ path: path.join(RESULTS, 'kiosk-econsent.png'), fullPage: true });
      await tablet.getByRole('button', { name: 'Sign the consent form' }).click();
      await tablet.getByRole('heading', { level: 1, name: 'Thank you' }).waitFor();
      // The link works once.
      await tablet.goto(link);
      await tablet.getByRole('heading', { level: 1, name: 'This consent link cannot be used' }).waitFor();
    } finally {
      await tabletContext.close();
    }
    await page.goto(participantUrl);
    await page.getByText('Awaiting countersignature').waitFor();
    assert.match(await page.getByRole('heading', { level: 1 }).innerText(), /Screening$/);
    await page.getByLabel('Your password, to countersign').fill(PASSWORD);
    await page.getByRole('button', { name: 'Countersign: I obtained this consent' }).click();
    await page.getByRole('heading', { level: 1, name: `${subjectId} Consented` }).waitFor();
    await page.getByText('Complete', { exact: true }).waitFor();
  });

  step('the eligibility checklist is answered with sources', async () => {
    const checklist = page.locator('form', { has: page.getByRole('heading', { name: 'Eligibility checklist' }) });
    const groups = checklist.getByRole('group');
    const n = await groups.count();
    assert.ok(n >= 8, `expected the eight CARDIO-HF3 criteria, got ${n}`);
    for (let i = 0; i < n; i++) {
      const g = groups.nth(i);
      const legend = await g.locator('legend').innerText();
      await g.getByLabel(legend.includes('Inclusion') ? 'Yes' : 'No', { exact: true }).check();
      await g.getByLabel('Source').fill('Screening visit notes');
    }
    await checklist.getByRole('button', { name: 'Record checklist' }).click();
    await page.getByText("Awaiting the investigator's signature.").waitFor();
    await page.getByText('Eligible', { exact: true }).first().waitFor();
  });

  step('the investigator signs the eligibility decision with a password', async () => {
    const piContext = await browser.newContext({ baseURL: server.base });
    try {
      const pi = await piContext.newPage();
      await pi.goto('/login');
      await signIn(pi, 'investigator@demo.clinbridge.org', PASSWORD);
      await pi.goto(participantUrl);
      await pi.getByLabel('Your password, to sign').fill(PASSWORD);
      await pi.getByRole('button', { name: 'Sign: I approve this eligibility decision' }).click();
      await pi.getByText(/^Signed by Dr\. Samuel Reyes/).waitFor();
    } finally {
      await piContext.close();
    }
  });

  step('the coordinator enrolls and randomizes, and the arm stays blinded', async () => {
    await page.goto(participantUrl);
    for (const status of ['eligible', 'enrolled']) {
      const move = page.locator('form', { has: page.getByRole('heading', { name: 'Move' }) });
      await move.getByLabel('New status').selectOption(status);
      await move.getByRole('button', { name: 'Record move' }).click();
      await page.getByRole('heading', { level: 1, name: new RegExp(`^${subjectId} ${status}$`, 'i') }).waitFor();
    }
    const form = page.locator('form', { has: page.getByRole('heading', { name: 'Randomize' }) });
    await form.getByLabel('diabetes').selectOption('no');
    await form.getByRole('button', { name: `Randomize ${subjectId}` }).click();
    await page.getByRole('heading', { level: 1, name: `${subjectId} Randomized` }).waitFor();
    await page.getByText(/Allocation \d+ in stratum diabetes=no: blinded/).waitFor();
    // Randomization planned the visits; the baseline is recorded as done today.
    const visits = page.getByRole('table').filter({ has: page.getByRole('columnheader', { name: 'Window' }) });
    await visits.getByRole('rowheader', { name: 'W12 · Week 12 safety' }).waitFor();
    const baseline = visits.getByRole('row').filter({ has: page.getByRole('rowheader', { name: 'BL · Baseline and randomization' }) });
    await baseline.getByLabel('Day of BL · Baseline and randomization').fill(await baseline.locator('td.date').first().innerText());
    await baseline.getByRole('button', { name: 'Record BL · Baseline and randomization' }).click();
    const done = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: 'BL · Baseline and randomization' }) });
    await done.getByText('Completed', { exact: true }).waitFor();
    await page.screenshot({ path: path.join(RESULTS, 'participant-randomized.png'), fullPage: true });
  });

  step('the coordinator fills in the screening demographics: branching follows the answers and a wrong date is put right', async () => {
    formUrl = `${participantUrl}/data/SCR/demographics/1`;
    await page.goto(`${participantUrl}/data`);
    await page.getByRole('link', { name: /Not started/ }).first().waitFor();
    await page.goto(formUrl);
    await page.getByRole('heading', { level: 1, name: `${subjectId} · Demographics` }).waitFor();
    const childbearing = page.locator('#row-childbearing');
    assert.equal(await childbearing.isHidden(), true, 'hidden until the answer to sex says otherwise');
    await page.locator('#f-initials').fill('RLM');
    // The date is typed in the wrong order for a date_mdy field.
    await page.locator('#f-dob').fill('1961-07-23');
    await page.locator('#row-sex input[value="2"]').check();
    await childbearing.waitFor({ state: 'visible' });
    await page.locator('#row-sex input[value="1"]').check();
    await childbearing.waitFor({ state: 'hidden' });
    await page.locator('#row-sex input[value="2"]').check();
    await childbearing.waitFor({ state: 'visible' });
    await page.locator('#row-childbearing input[value="0"]').check();
    await page.locator('#f-height').fill('168');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    const error = page.locator('#error-dob');
    await error.waitFor();
    assert.match(await error.innerText(), /^Date of birth: /);
    // What was typed is kept; only the date is put right.
    assert.equal(await page.locator('#f-height').inputValue(), '168');
    await page.locator('#f-dob').fill('07-23-1961');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByText(/^Saved: \d+ fields changed\.$/).waitFor();
    assert.equal(await page.locator('#f-dob').inputValue(), '07-23-1961');
  });

  step('the monitor raises a query, the coordinator answers it, and the investigator signs the form', async () => {
    const monitorContext = await browser.newContext({ baseURL: server.base });
    const piContext = await browser.newContext({ baseURL: server.base });
    try {
      const monitor = await monitorContext.newPage();
      await monitor.goto('/login');
      await signIn(monitor, 'monitor@demo.clinbridge.org', PASSWORD);
      await monitor.goto(formUrl);
      const height = monitor.locator('#row-height');
      await height.locator('summary', { hasText: 'Raise query' }).click();
      await height.getByLabel('Query message').fill('Height differs from the source (178 cm in the clinic notes).');
      await height.getByRole('button', { name: 'Raise query' }).click();
      await monitor.locator('#queries').getByText('height · open').waitFor();

      await page.goto(formUrl);
      await page.locator('#row-height').getByRole('link', { name: '1 open query' }).waitFor();
      await page.locator('#f-height').fill('178');
      await page.getByLabel('Reason for change').fill('Height corrected from the clinic notes');
      await page.getByRole('button', { name: 'Save', exact: true }).click();
      await page.getByText('Saved: 1 field changed.').waitFor();
      const query = page.locator('#queries .query').first();
      await query.getByLabel('Answer').fill('Corrected to 178 cm from the source.');
      await query.getByRole('button', { name: 'Send answer' }).click();
      await page.locator('#queries').getByText('height · answered').waitFor();

      const pi = await piContext.newPage();
      await pi.goto('/login');
      await signIn(pi, 'investigator@demo.clinbridge.org', PASSWORD);
      await pi.goto(formUrl);
      await pi.locator('#sign-scope').selectOption('form');
      await pi.locator('#sign-password').fill(PASSWORD);
      await pi.getByRole('button', { name: 'Sign', exact: true }).click();
      await pi.getByText('Signed (form).').waitFor();
      await pi.locator('ul.signatures').getByText(/^Dr\. Samuel Reyes signed the form .*valid$/).waitFor();
      await pi.screenshot({ path: path.join(RESULTS, 'edc-form-signed.png'), fullPage: true });
    } finally {
      await monitorContext.close();
      await piContext.close();
    }
  });

  step("the coordinator books the new participant's week 2 visit and finds it on the site calendar", async () => {
    await page.goto(participantUrl);
    const w2 = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: 'W2 · Week 2' }) });
    await w2.locator('summary', { hasText: 'Move or book W2 · Week 2' }).click();
    const day = await w2.getByLabel('Day', { exact: true }).inputValue();
    await w2.getByLabel('Start', { exact: true }).fill('17:30');
    await w2.getByLabel('Minutes').fill('30');
    await w2
      .getByLabel('Rooms, equipment, staff')
      .selectOption([{ label: 'Exam room 1 (Room)' }, { label: 'ECG machine (Equipment)' }]);
    await w2.getByRole('button', { name: 'Book W2 · Week 2' }).click();
    const booked = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: 'W2 · Week 2' }) });
    await booked.getByText(/17:30/).first().waitFor();
    await page.goto(`/sites/BOS/calendar?view=day&date=${day}`);
    const row = page.locator('table.calendar tbody tr').filter({ has: page.getByRole('link', { name: subjectId, exact: true }) });
    await row.waitFor();
    assert.match(await row.locator('td').first().innerText(), /^17:30–18:00$/);
  });

  step('the schedule of events shows the visit grid', async () => {
    await page.goto('/studies/CARDIO-HF3/schedule');
    const grid = page.getByRole('table');
    await grid.getByRole('rowheader', { name: /^W12 · Week 12 safety/ }).waitFor();
    await grid.getByRole('columnheader', { name: 'Echocardiogram' }).waitFor();
    // A coordinator reads the schedule but does not change it.
    assert.equal(await page.getByRole('heading', { name: 'Add a visit' }).count(), 0);
  });

  step('the coordinator opens the Boston calendar and sees a booked visit', async () => {
    await page.goto('/sites/BOS/calendar?view=week');
    await page.getByRole('heading', { level: 1, name: /^Calendar · Harborview/ }).waitFor();
    // The demo books the coming two weeks: one of the next few weeks shows a booked visit.
    const booked = () => page.locator('table.calendar tbody tr');
    for (let week = 0; week < 3 && (await booked().count()) === 0; week++) {
      const before = page.url();
      await page.getByRole('link', { name: 'Next', exact: true }).click();
      await page.waitForURL((url) => url.href !== before && url.pathname === '/sites/BOS/calendar');
    }
    const row = booked().first();
    await row.waitFor();
    await row.getByRole('link', { name: /^(AF-)?BOS-\d+$/ }).waitFor();
    assert.match(await row.locator('td').first().innerText(), /^\d{2}:\d{2}–\d{2}:\d{2}$/);
    await page.screenshot({ path: path.join(RESULTS, 'site-calendar.png'), fullPage: true });
  });

  step('an MSL finds an investigator, logs an interaction with an insight and a request, and a commercial user is kept out', async () => {
    const mslContext = await browser.newContext({ baseURL: server.base, viewport: { width: 1280, height: 900 } });
    const commercialContext = await browser.newContext({ baseURL: server.base });
    try {
      const msl = await mslContext.newPage();
      msl.on('pageerror', (err) => pageProblems.push(`page error (MSL): ${err.message}`));
      await msl.goto('/login');
      await signIn(msl, 'msl@demo.clinbridge.org', PASSWORD);
      await msl.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Field medical' }).click();
      await msl.getByRole('heading', { level: 2, name: 'Interactions by KOL tier' }).waitFor();
      await msl.getByRole('navigation', { name: 'Field medical' }).getByRole('link', { name: 'HCPs' }).click();
      await msl.getByLabel('Name or NPI').fill('Reyes');
      await msl.getByRole('button', { name: 'Search' }).click();
      await msl.getByRole('link', { name: 'Samuel Reyes, MD, FACC' }).click();
      // The investigator's trial activity, straight from site operations.
      const trials = msl.locator('h2#trials + .scroll table');
      await trials.getByRole('row').filter({ hasText: 'CARDIO-HF3' }).getByText('Principal investigator').waitFor();

      await msl.getByRole('link', { name: 'Log interaction' }).first().click();
      // The HCP is already chosen, the date and time are now, in person is the default.
      assert.deepEqual(
        await msl.getByLabel('Healthcare professionals present').evaluate((s) => [...s.selectedOptions].map((o) => o.text)),
        ['Reyes, Samuel — Harborview Medical Center'],
      );
      await msl.getByLabel('Topics (comma-separated)').fill('Renal safety, Phase 3 design');
      await msl.getByLabel('Products discussed (comma-separated)').fill('Cardiozan');
      await msl.getByLabel('What was heard').fill('Would enrol more CKD stage 4 patients if eGFR monitoring were monthly.');
      await msl.getByLabel('Category').selectOption({ label: 'Trial design' });
      await msl.getByLabel('Tags (comma-separated)').fill('renal function, trial design');
      await msl.locator('summary', { hasText: 'Medical information request' }).click();
      // A request the MSL prompted is refused with the reason, and nothing is saved.
      await msl.getByLabel('No, it came up because we raised it').check();
      await msl.getByLabel('Question (one per line, in the requester\'s words)').fill('What is the dose in CKD stage 4?');
      await msl.getByRole('button', { name: 'Save interaction' }).click();
      await msl.getByRole('alert').getByText(/Request: unsolicited: only unsolicited requests can be recorded/).waitFor();
      assert.equal(await msl.getByLabel('What was heard').inputValue(), 'Would enrol more CKD stage 4 patients if eGFR monitoring were monthly.');
      await msl.getByLabel('Yes, unsolicited').check();
      await msl.getByRole('button', { name: 'Save interaction' }).click();
      await msl.waitForURL(/\/medical\/interactions\/[0-9a-f-]{36}$/);
      await msl.getByText('Would enrol more CKD stage 4 patients if eGFR monitoring were monthly.').waitFor();
      await msl.getByRole('link', { name: 'What is the dose in CKD stage 4?' }).click();
      await msl.locator('#request-status').getByText('New').waitFor();
      assert.match(await msl.locator('#request-due').innerText(), /\d{4}/);
      // The requester signs; the question is then locked while the answer can still be sent.
      await msl.getByLabel("Requester's full name, as typed by them").fill('Samuel Reyes');
      await msl.getByRole('button', { name: 'Record signature' }).click();
      await msl.getByText(/^Signed by Samuel Reyes/).waitFor();
      await msl.getByRole('button', { name: 'Start work on it' }).click();
      await msl.locator('#request-status').getByText('In progress').waitFor();
      await msl.getByLabel('Response text').fill('The prescribing information covers eGFR down to 20; enclosed is the renal subgroup analysis.');
      await msl.getByRole('button', { name: 'Send response' }).click();
      await msl.locator('#request-status').getByText('Answered').waitFor();
      await msl.screenshot({ path: path.join(RESULTS, 'medical-request.png'), fullPage: true });
      // The insight is counted on the team board.
      await msl.goto('/medical/insights');
      await msl.getByRole('table').filter({ hasText: 'Tag' }).getByRole('rowheader', { name: 'trial design' }).waitFor();

      const commercial = await commercialContext.newPage();
      await commercial.goto('/login');
      await signIn(commercial, 'commercial@demo.clinbridge.org', PASSWORD);
      assert.equal(await commercial.getByRole('link', { name: 'Field medical' }).count(), 0);
      const refused = await commercial.goto('/medical/interactions');
      assert.equal(refused.status(), 403);
    } finally {
      await mslContext.close();
      await commercialContext.close();
    }
  });

  step('a clinical specialist opens a ticket, escalates it to a complaint and sees its reporting due date', async () => {
    const csContext = await browser.newContext({ baseURL: server.base, viewport: { width: 1280, height: 900 } });
    try {
      const cs = await csContext.newPage();
      cs.on('pageerror', (err) => pageProblems.push(`page error (specialist): ${err.message}`));
      await cs.goto('/login');
      await signIn(cs, 'clinical.specialist@demo.clinbridge.org', PASSWORD);
      await cs.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Device support' }).click();
      // The demo complaint close to its deadline is on the dashboard with its days left.
      const clocks = cs.getByRole('region', { name: 'Complaints and their reporting clocks' });
      await clocks.getByText(/^\d+ days left$/).first().waitFor();

      await cs.getByRole('link', { name: 'Open a ticket' }).click();
      await cs.getByLabel('Account').selectOption({ index: 1 });
      await cs.getByLabel('Product').selectOption({ index: 1 });
      await cs.getByLabel('Serial or lot number').fill('LOT-24-0917');
      await cs.getByLabel('What is wrong').fill('Delivery catheter flush port cracked during preparation; no patient contact.');
      await cs.getByRole('button', { name: 'Open ticket' }).click();
      await cs.waitForURL(/\/device\/tickets\/[0-9a-f-]{36}$/);
      await cs.locator('#ticket-status').getByText('Open').waitFor();
      await cs.getByLabel('What was tried or found').fill('Second catheter from the same lot shows a hairline crack at the port.');
      await cs.getByRole('button', { name: 'Add to the log' }).click();
      await cs.getByText('Second catheter from the same lot shows a hairline crack at the port.').waitFor();

      await cs.locator('summary', { hasText: 'Escalate to a complaint' }).click();
      const aware = await cs.getByLabel('Company became aware').inputValue();
      await cs.getByLabel('Complainant', { exact: true }).fill('Cath lab charge nurse');
      await cs.getByLabel('Complainant contact').fill('cathlab@example.org');
      await cs.getByLabel('Nature of the complaint').fill('Cracked flush port on the delivery catheter');
      await cs.getByLabel('What happened, as the complainant told it').fill('The port cracked while flushing before the case; the catheter was not used.');
      await cs.getByRole('button', { name: 'Escalate to complaint' }).click();
      await cs.getByRole('heading', { level: 2, name: 'Complaint' }).waitFor();
      await cs.getByText('not decided').waitFor();
      await cs.getByLabel('Serious injury', { exact: true }).check();
      await cs.getByLabel('Rationale').fill('A fragment could embolize if the crack is missed.');
      await cs.getByRole('button', { name: 'Record the decision' }).click();
      // Thirty calendar days from the day the company became aware.
      const due = new Date(`${aware}T00:00:00Z`);
      due.setUTCDate(due.getUTCDate() + 30);
      const expected = due.toISOString().slice(0, 10);
      assert.equal(await cs.locator('#report-due').innerText(), expected);
      assert.match(await cs.locator('#days-left').innerText(), /^(29|30) days left$/);
      await cs.screenshot({ path: path.join(RESULTS, 'device-complaint.png'), fullPage: true });
    } finally {
      await csContext.close();
    }
  });

  step('signing out ends the session', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL((url) => url.pathname === '/login' && url.searchParams.get('signed_out') === '1');
    await page.getByText('You are signed out.').waitFor();
    await page.goto('/');
    assert.equal(new URL(page.url()).pathname, '/login');
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
  });

  test('no script errors, and no failed requests but the refusals provoked above', () => {
    assert.deepEqual(pageProblems, []);
    if (!broken) {
      // The browser's own favicon probe is not reported as a response, so it is not listed here.
      // The refused demographics save (a date in the wrong order) answers 422 with the form.
      assert.deepEqual(failedResponses, [
        'POST /login 401',
        'GET /admin/users 403',
        'POST /admin/sites 403',
        `POST ${new URL(formUrl, server.base).pathname} 422`,
      ]);
    }
  });
}
