//! The Markdown report.

use std::fmt::Write as _;
use std::time::Duration;

pub struct Row {
    pub area: &'static str,
    pub figure: String,
    pub value: String,
    pub target: String,
    /// `None` for figures without a target.
    pub pass: Option<bool>,
}

#[derive(Default)]
pub struct Report {
    pub context: Vec<(String, String)>,
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
}

impl Report {
    pub fn info(&mut self, area: &'static str, figure: impl Into<String>, value: impl Into<String>) {
        self.rows.push(Row { area, figure: figure.into(), value: value.into(), target: String::new(), pass: None });
    }

    pub fn check(
        &mut self,
        area: &'static str,
        figure: impl Into<String>,
        value: impl Into<String>,
        target: impl Into<String>,
        pass: bool,
    ) {
        self.rows.push(Row {
            area,
            figure: figure.into(),
            value: value.into(),
            target: target.into(),
            pass: Some(pass),
        });
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    pub fn targets(&self) -> (usize, usize) {
        let checked = self.rows.iter().filter(|r| r.pass.is_some()).count();
        let met = self.rows.iter().filter(|r| r.pass == Some(true)).count();
        (met, checked)
    }

    pub fn render(&self) -> String {
        let mut out = String::from("# Raktar benchmark report\n\n");
        for (k, v) in &self.context {
            let _ = writeln!(out, "- **{k}**: {v}");
        }
        out.push_str("\n| Area | Figure | Value | Target | Result |\n|---|---|---|---|---|\n");
        for r in &self.rows {
            let result = match r.pass {
                Some(true) => "pass",
                Some(false) => "**FAIL**",
                None => "",
            };
            let _ = writeln!(out, "| {} | {} | {} | {} | {} |", r.area, r.figure, r.value, r.target, result);
        }
        let (met, checked) = self.targets();
        let _ = writeln!(out, "\n{met} of {checked} targets met.");
        if !self.notes.is_empty() {
            out.push_str("\n## Observations\n\n");
            for n in &self.notes {
                let _ = writeln!(out, "- {n}");
            }
        }
        out
    }
}

pub fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Nearest-rank percentile of a sample (`p` in 0..=100).
pub fn percentile(samples: &[Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn median(samples: &[Duration]) -> Duration {
    percentile(samples, 50.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let s: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&s, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&s, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&s, 100.0), Duration::from_millis(100));
        assert_eq!(median(&[Duration::from_millis(3)]), Duration::from_millis(3));
    }
}
