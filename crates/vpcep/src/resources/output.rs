//! `-o table|json|csv`: aligned tables and key/value blocks for people, the API's JSON for scripts.

use clap::ValueEnum;
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
    /// Comma-separated values (`vpcep usage` only).
    Csv,
}

/// Columns padded to their widest cell; the last column is not padded.
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Self {
        Self {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let cols = self.headers.len();
        let mut width: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(cols) {
                width[i] = width[i].max(c.chars().count());
            }
        }
        let line = |cells: &mut dyn Iterator<Item = &str>| {
            let mut s = String::new();
            for (i, c) in cells.enumerate().take(cols) {
                let c = if c.is_empty() { "-" } else { c };
                if i + 1 < cols {
                    s += c;
                    s += &" ".repeat(width[i].saturating_sub(c.chars().count()) + 2);
                } else {
                    s += c;
                }
            }
            s.trim_end().to_string() + "\n"
        };
        let mut out = line(&mut self.headers.iter().copied());
        for r in &self.rows {
            out += &line(&mut r.iter().map(String::as_str));
        }
        out
    }
}

/// `key  value` lines, keys aligned.
pub fn kv(pairs: &[(&str, String)]) -> String {
    let w = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    pairs
        .iter()
        .map(|(k, v)| format!("{k:<w$}  {}\n", if v.is_empty() { "-" } else { v }))
        .collect()
}

/// Print `value` as pretty JSON, or the table text.
pub fn emit<T: Serialize + ?Sized>(
    out: Output,
    value: &T,
    table: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    match out {
        Output::Json => println!("{}", serde_json::to_string_pretty(value)?),
        Output::Table => print!("{}", table()),
        Output::Csv => anyhow::bail!("-o csv is for `vpcep usage`; use table or json"),
    }
    Ok(())
}

/// For operations without a response body (204): a line for people, nothing for scripts.
pub fn done(out: Output, message: impl std::fmt::Display) {
    if out == Output::Table {
        println!("{message}");
    }
}

pub fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let mut t = Table::new(&["ID", "NAME", "STATUS"]);
        t.row(vec!["a".into(), "longer-name".into(), "available".into()]);
        t.row(vec!["bbbb".into(), String::new(), "creating".into()]);
        assert_eq!(
            t.render(),
            "ID    NAME         STATUS\na     longer-name  available\nbbbb  -            creating\n"
        );
    }

    #[test]
    fn kv_aligns_keys() {
        assert_eq!(
            kv(&[("id", "x".into()), ("status", String::new())]),
            "id      x\nstatus  -\n"
        );
    }
}
