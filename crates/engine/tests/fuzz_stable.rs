//! The `parse_eval` fuzz target's body (`fuzz/fuzz_targets/parse_eval.rs`) run on a stable
//! toolchain: a few hundred thousand inputs mutated from real logic by a fixed-seed generator,
//! so every CI run covers the same ground and a failure reproduces. Set
//! `CLINBRIDGE_FUZZ_CASES` to run more.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use clinbridge_engine::logic::fuzz_one;

/// Logic as data dictionaries write it, the seeds the mutations start from.
const SEEDS: &[&str] = &[
    "[age] >= 18 and [sex] = '1'",
    "if([bmi] > 30, 1, 0)",
    "round(([weight]/([height]/100)^2), 1)",
    "datediff([dob], 'today', 'y')",
    "rounddown(datediff([dob], \"today\", \"y\", \"ymd\"))",
    "datediff([visit], 'now', 'h', true)",
    "datediff('31-12-2023', [visit], 'd', 'dmy', true)",
    "[meds(3)] = '1' or [meds(99)] = \"1\"",
    "[baseline_arm_1][age] <> '' and [age] - [baseline_arm_1][age] > 1",
    "[ae][2] = 3",
    "not ([a] = 1 || [b] == 0) && [c] != -2.5",
    "sum([a], [b], [c], [blank]) / mean([a], [c])",
    "median(1, 2, [c], 4) + min([a], -3) * max([b], 7) - abs([c]) + sqrt(16) ^ 0.5",
    "roundup([c] * 3.14159, 2) + rounddown(-2.9) + mod(10, 3)",
    "contains([y], 'def') and not_contain([x], 'z') and starts_with([y], 'abc') and ends_with([x], 'C')",
    "length([y]) + isnumber([a]) + isinteger([c]) + isblankormissingcode([blank])",
    "concat(left([y], 3), '-', right([y], 3), mid([x], 2, 1), upper('a'), lower('B'), trim('  c '))",
    "[big] * [big] = ''",
    "[tiny] / [tiny]",
    "-[a] ^ 2 = 1",
    "2 ^ 3 ^ 2",
    "(2 ^ 3) ^ 2 - -(2 ^ 2) - (1 - 2) = (1 = 1)",
    "'it''s' = \"it's\"",
    "true or false",
    "[space] = '' and [blank] = \"\"",
    "(((1)))",
    "1 / 0",
];

/// Fragments spliced in: operators, keywords, functions, brackets, quotes, odd characters.
const DICTIONARY: &[&str] = &[
    "[",
    "]",
    "(",
    ")",
    ",",
    "'",
    "\"",
    "[a]",
    "[meds(1)]",
    "[baseline_arm_1]",
    "[2]",
    "and ",
    " or ",
    "not ",
    "=",
    "<>",
    "!=",
    "<=",
    ">=",
    "^",
    "-",
    "+",
    "*",
    "/",
    "&&",
    "||",
    "if(",
    "sum(",
    "datediff(",
    "round(",
    "'today'",
    "'y'",
    "'M'",
    "'mdy'",
    "true",
    "0",
    "1.5",
    ".",
    "9999999999999999999999",
    " ",
    "\n",
    "é",
    "‘",
    "\u{a0}",
    "(-",
    ")^(",
    "''''",
];

/// Spellings that can stand in for one another, for edits that keep logic valid.
const OPERATORS: &[&str] = &[
    " = ", " == ", " <> ", " != ", " < ", " <= ", " > ", " >= ", " + ", " - ", " * ", " / ", " ^ ", " and ", " or ",
    " AND ",
];
const OPERANDS: &[&str] = &[
    "[a]",
    "[b]",
    "[c]",
    "[x]",
    "[y]",
    "[blank]",
    "[space]",
    "[meds(1)]",
    "[meds(2)]",
    "[baseline_arm_1][age]",
    "[ae][2]",
    "[dob]",
    "[visit]",
    "0",
    "1",
    "-1",
    "2.5",
    "'1'",
    "''",
    "\"abc\"",
    "'2024-02-29'",
    "'today'",
    "'now'",
    "true",
];

/// SplitMix64: small, fast, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// One input: a seed put through a few random edits, or now and then plain random bytes.
fn mutate(rng: &mut Rng) -> Vec<u8> {
    if rng.below(20) == 0 {
        let len = rng.below(40);
        return (0..len).map(|_| rng.next() as u8).collect();
    }
    let mut input = rng.pick(SEEDS).as_bytes().to_vec();
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(input.len() + 1);
        match rng.below(12) {
            // Edits that keep the logic valid, so evaluation sees many shapes.
            7..=9 => {
                let class = if rng.below(2) == 0 { OPERATORS } else { OPERANDS };
                substitute(rng, &mut input, class);
            }
            10 => {
                let (open, close) =
                    [("not (", ")"), ("(", ")"), ("if(", ", 1, 0)"), ("-(", ")"), ("sum(", ", [a])")][rng.below(5)];
                input.splice(0..0, open.bytes());
                input.extend_from_slice(close.as_bytes());
            }
            11 => {
                let joint = rng.pick(OPERATORS);
                input.extend_from_slice(joint.as_bytes());
                input.extend_from_slice(rng.pick(SEEDS).as_bytes());
            }
            0 => {
                if at < input.len() {
                    input[at] ^= 1 << rng.below(8);
                }
            }
            1 => input.insert(at, rng.next() as u8),
            2 => {
                let end = (at + 1 + rng.below(6)).min(input.len());
                input.drain(at.min(end)..end);
            }
            3 | 4 => {
                let piece = rng.pick(DICTIONARY).as_bytes();
                input.splice(at..at, piece.iter().copied());
            }
            5 => {
                let other = rng.pick(SEEDS).as_bytes();
                let from = rng.below(other.len());
                let to = from + rng.below(other.len() - from + 1);
                input.splice(at.., other[from..to].iter().copied());
            }
            _ => {
                let end = (at + rng.below(8)).min(input.len());
                let copy = input[at..end].to_vec();
                input.splice(at..at, copy);
            }
        }
    }
    input
}

/// Replaces one occurrence of a member of `class` with another member.
fn substitute(rng: &mut Rng, input: &mut Vec<u8>, class: &[&str]) {
    let found: Vec<(usize, usize)> = class
        .iter()
        .flat_map(|item| {
            let item = item.as_bytes();
            input.windows(item.len()).enumerate().filter(move |(_, w)| *w == item).map(move |(at, _)| (at, item.len()))
        })
        .collect();
    if found.is_empty() {
        return;
    }
    let (at, len) = found[rng.below(found.len())];
    let with = rng.pick(class);
    input.splice(at..at + len, with.bytes());
}

#[test]
fn seeds_are_valid_logic() {
    for seed in SEEDS {
        clinbridge_engine::logic::parse(seed).unwrap_or_else(|e| panic!("{seed}: {e}"));
        fuzz_one(seed.as_bytes());
    }
}

#[test]
fn fuzz_body_survives_mutated_logic() {
    let cases: usize = std::env::var("CLINBRIDGE_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(300_000);
    let mut rng = Rng(0x5EED_C11B_41D6);
    let mut parsed = 0;
    for _ in 0..cases {
        let input = mutate(&mut rng);
        if let Ok(src) = std::str::from_utf8(&input)
            && clinbridge_engine::logic::parse(src).is_ok()
        {
            parsed += 1;
        }
        fuzz_one(&input);
    }
    // The mutations must leave a fair share of inputs valid, or evaluation goes untested.
    assert!(parsed * 5 > cases, "only {parsed} of {cases} inputs parsed");
    eprintln!("{parsed} of {cases} mutated inputs parsed");
}
