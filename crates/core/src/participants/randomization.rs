//! Stratified permuted-block randomization: the design (arms and their ratio, block sizes,
//! stratification factors, list length), its strata, and the concealed allocation list of one
//! stratum. The caller supplies the random source, so the store draws from the operating
//! system and tests replay a fixed one.

use crate::{Checks, Invalid, required_text};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArmWeight {
    pub code: String,
    pub ratio: u32,
}

/// A stratification factor such as age group, with its levels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Factor {
    pub name: String,
    pub levels: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Design {
    pub arms: Vec<ArmWeight>,
    /// Each a multiple of the sum of the ratios; blocks are drawn among these sizes at random.
    pub block_sizes: Vec<u32>,
    pub factors: Vec<Factor>,
    /// Allocations generated per stratum (rounded up to whole blocks).
    pub list_length: u32,
}

/// One position of a stratum's allocation list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Slot {
    pub seq: u32,
    pub block_no: u32,
    pub block_size: u32,
    pub arm: String,
}

const MAX_STRATA: usize = 256;

impl Design {
    pub fn ratio_sum(&self) -> u32 {
        self.arms.iter().map(|a| a.ratio).sum()
    }

    /// Checks the design and normalizes it (block sizes sorted, names trimmed).
    pub fn check(mut self) -> Result<Self, Invalid> {
        let mut c = Checks::new();
        if self.arms.len() < 2 {
            c.push("arms", "randomization needs at least two arms");
        }
        if self.arms.iter().any(|a| !(1..=10).contains(&a.ratio)) {
            c.push("arms", "allocation ratios must be 1 to 10");
        }
        let sum = self.ratio_sum().max(1);
        self.block_sizes.sort_unstable();
        self.block_sizes.dedup();
        if self.block_sizes.is_empty() {
            c.push("block_sizes", "give at least one block size");
        }
        for b in &self.block_sizes {
            if *b == 0 || b % sum != 0 || *b > 60 {
                c.push("block_sizes", format!("{b} is not a multiple of the allocation ratio sum ({sum}) up to 60"));
            }
        }
        if self.factors.len() > 4 {
            c.push("factors", "at most 4 stratification factors");
        }
        for f in &mut self.factors {
            match required_text("factors", &f.name, 40) {
                Ok(n) if !n.contains(['=', ';']) => f.name = n,
                _ => c.push("factors", "every factor needs a name (without = or ;)"),
            }
            let mut levels = Vec::new();
            for l in &f.levels {
                let l = l.trim();
                if l.is_empty() || l.len() > 40 || l.contains(';') {
                    c.push("factors", format!("factor {} has a level that is empty, too long, or contains ;", f.name));
                } else if !levels.iter().any(|x: &String| x == l) {
                    levels.push(l.to_string());
                }
            }
            if !(2..=8).contains(&levels.len()) {
                c.push("factors", format!("factor {} needs 2 to 8 distinct levels", f.name));
            }
            f.levels = levels;
        }
        let names: std::collections::HashSet<&str> = self.factors.iter().map(|f| f.name.as_str()).collect();
        if names.len() != self.factors.len() {
            c.push("factors", "factor names must differ");
        }
        if !(2..=5000).contains(&self.list_length) {
            c.push("list_length", "must be between 2 and 5,000 allocations per stratum");
        }
        c.finish()?;
        if self.strata().len() > MAX_STRATA {
            return Err(Invalid::one("factors", format!("the factors give more than {MAX_STRATA} strata")));
        }
        Ok(self)
    }

    /// Every stratum key: one level of each factor, `name=level` joined by `;` in factor
    /// order; the single stratum of an unstratified design is "".
    pub fn strata(&self) -> Vec<String> {
        let mut keys = vec![String::new()];
        for f in &self.factors {
            let mut next = Vec::with_capacity(keys.len() * f.levels.len());
            for k in &keys {
                for l in &f.levels {
                    let part = format!("{}={}", f.name, l);
                    next.push(if k.is_empty() { part } else { format!("{k};{part}") });
                }
            }
            keys = next;
        }
        keys
    }

    /// The stratum of a participant from their level of each factor (by factor name).
    pub fn stratum_of(&self, values: &[(String, String)]) -> Result<String, Invalid> {
        let mut parts = Vec::new();
        for f in &self.factors {
            let field = format!("strata.{}", f.name);
            let Some((_, v)) = values.iter().find(|(n, _)| n == &f.name) else {
                return Err(Invalid::one(field, "is required to randomize"));
            };
            if !f.levels.iter().any(|l| l == v.trim()) {
                return Err(Invalid::one(field, format!("must be one of {}", f.levels.join(", "))));
            }
            parts.push(format!("{}={}", f.name, v.trim()));
        }
        if let Some((n, _)) = values.iter().find(|(n, _)| !self.factors.iter().any(|f| &f.name == n)) {
            return Err(Invalid::one(format!("strata.{n}"), "is not a stratification factor of this study"));
        }
        Ok(parts.join(";"))
    }

    /// The allocation list of one stratum: whole permuted blocks until `list_length` is
    /// reached. `below(n)` must return a uniform random number in `0..n`.
    pub fn generate(&self, below: &mut dyn FnMut(u32) -> u32) -> Vec<Slot> {
        let sum = self.ratio_sum().max(1);
        let mut out = Vec::new();
        let mut block_no = 0;
        while (out.len() as u32) < self.list_length && !self.block_sizes.is_empty() {
            block_no += 1;
            let size = self.block_sizes[below(self.block_sizes.len() as u32) as usize];
            let per_ratio = size / sum;
            let mut block: Vec<&str> = Vec::with_capacity(size as usize);
            for a in &self.arms {
                for _ in 0..a.ratio * per_ratio {
                    block.push(&a.code);
                }
            }
            // Fisher–Yates: every ordering of the block is equally likely.
            for i in (1..block.len()).rev() {
                let j = below(i as u32 + 1) as usize;
                block.swap(i, j);
            }
            for arm in block {
                out.push(Slot { seq: out.len() as u32 + 1, block_no, block_size: size, arm: arm.to_string() });
            }
        }
        out
    }
}

/// Whether someone may see allocations: everyone in an open-label study, otherwise only the
/// study's unblinded team.
pub fn may_see_allocation(blinded: bool, unblinded_member: bool) -> bool {
    !blinded || unblinded_member
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn design(ratios: &[u32], blocks: &[u32]) -> Design {
        Design {
            arms: ratios.iter().enumerate().map(|(i, r)| ArmWeight { code: format!("ARM{i}"), ratio: *r }).collect(),
            block_sizes: blocks.to_vec(),
            factors: vec![
                Factor { name: "age".into(), levels: vec!["<65".into(), ">=65".into()] },
                Factor { name: "diabetes".into(), levels: vec!["yes".into(), "no".into(), "yes".into()] },
            ],
            list_length: 40,
        }
    }

    /// A fixed xorshift source for reproducible tests.
    fn source(seed: u64) -> impl FnMut(u32) -> u32 {
        let mut x = seed.max(1);
        move |n| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as u32
        }
    }

    #[test]
    fn designs_are_checked() {
        assert!(design(&[1, 1], &[4, 2, 4]).check().is_ok());
        let d = design(&[2, 1], &[4]).check().unwrap_err();
        assert!(d.0[0].message.contains("multiple of the allocation ratio sum (3)"));
        assert!(design(&[1], &[2]).check().is_err());
        let mut too_many = design(&[1, 1], &[2]);
        too_many.factors =
            (0..4).map(|i| Factor { name: format!("f{i}"), levels: (0..8).map(|l| l.to_string()).collect() }).collect();
        assert!(too_many.check().unwrap_err().0[0].message.contains("strata"));
    }

    #[test]
    fn strata_are_the_product_of_the_levels() {
        let d = design(&[1, 1], &[4]).check().unwrap();
        assert_eq!(
            d.strata(),
            vec!["age=<65;diabetes=yes", "age=<65;diabetes=no", "age=>=65;diabetes=yes", "age=>=65;diabetes=no"]
        );
        let v = |a: &str, b: &str| vec![("diabetes".to_string(), b.to_string()), ("age".to_string(), a.to_string())];
        assert_eq!(d.stratum_of(&v(">=65", "no")).unwrap(), "age=>=65;diabetes=no");
        assert!(d.stratum_of(&v("old", "no")).is_err());
        assert!(d.stratum_of(&[("age".into(), "<65".into())]).is_err());
        let unstratified = Design { factors: vec![], ..d };
        assert_eq!(unstratified.strata(), vec![String::new()]);
    }

    #[test]
    fn a_two_to_one_list_is_balanced_within_every_block() {
        let d = design(&[2, 1], &[3, 6]).check().unwrap();
        let list = d.generate(&mut source(7));
        assert!(list.len() >= 40);
        let mut by_block: std::collections::BTreeMap<u32, Vec<&Slot>> = Default::default();
        for s in &list {
            by_block.entry(s.block_no).or_default().push(s);
        }
        for (_, block) in by_block {
            let size = block[0].block_size as usize;
            assert_eq!(block.len(), size, "whole blocks only");
            let a0 = block.iter().filter(|s| s.arm == "ARM0").count();
            assert_eq!(a0 * 3, size * 2, "2:1 inside each block");
        }
        let seqs: Vec<u32> = list.iter().map(|s| s.seq).collect();
        assert_eq!(seqs, (1..=list.len() as u32).collect::<Vec<_>>());
    }

    proptest! {
        #[test]
        fn any_list_is_balanced_at_every_block_end(seed in 1u64.., r0 in 1u32..4, r1 in 1u32..4, mult in 1u32..4) {
            let sum = r0 + r1;
            let d = design(&[r0, r1], &[sum * mult, sum * (mult + 1)]).check().unwrap();
            let list = d.generate(&mut source(seed));
            let mut count = [0u32; 2];
            for (i, s) in list.iter().enumerate() {
                count[if s.arm == "ARM0" { 0 } else { 1 }] += 1;
                let block_end = list.get(i + 1).is_none_or(|n| n.block_no != s.block_no);
                if block_end {
                    prop_assert_eq!(count[0] * r1, count[1] * r0);
                }
            }
        }
    }

    #[test]
    fn concealment() {
        assert!(may_see_allocation(false, false));
        assert!(!may_see_allocation(true, false));
        assert!(may_see_allocation(true, true));
    }
}
