//! The OpenAPI document names its schemas by type name alone, so two types of the same name in
//! different modules would silently share (and overwrite) one schema: every type that derives
//! `ToSchema` must have a name of its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_schema_has_a_name_of_its_own() {
    let mut files = Vec::new();
    sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let Some(rest) = line.trim().strip_prefix("pub struct ").or_else(|| line.trim().strip_prefix("pub enum "))
            else {
                continue;
            };
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            // The attributes right above the type.
            let attrs: Vec<&str> = lines[..i]
                .iter()
                .rev()
                .take_while(|l| l.trim().starts_with("#[") || l.trim().starts_with("///"))
                .copied()
                .collect();
            if !attrs.iter().any(|a| a.contains("ToSchema")) {
                continue;
            }
            let renamed = attrs
                .iter()
                .find_map(|a| a.split("schema(as = ").nth(1).map(|r| r.split(')').next().unwrap_or("").to_string()));
            let key = renamed.unwrap_or(name);
            seen.entry(key).or_default().push(file.display().to_string());
        }
    }
    let shared: Vec<String> = seen
        .iter()
        .filter(|(_, files)| files.len() > 1)
        .map(|(name, files)| format!("{name}: {}", files.join(", ")))
        .collect();
    assert!(seen.len() > 100, "the scan found the API's schemas ({} names)", seen.len());
    assert!(shared.is_empty(), "schema names used more than once:\n{}", shared.join("\n"));
}
