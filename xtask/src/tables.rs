//! Markdown tables printed by benchmark programs, and their merging over runs.
//!
//! A benchmark prints markdown tables (and lines of notes) on stdout. Run several
//! times, its tables are merged cell by cell: a cell holding one number becomes
//! `median (min–max)` over the runs, with the number's own precision and unit;
//! a cell that is the same in every run (a label, a size) stays as it is.

/// One markdown table: a header, an alignment row, and body rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub header: Vec<String>,
    pub alignment: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// What one run of a benchmark printed: its tables and its other lines.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub tables: Vec<Table>,
    pub notes: Vec<String>,
}

fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    inner.split('|').map(|c| c.trim().to_string()).collect()
}

fn is_alignment_row(cells: &[String]) -> bool {
    !cells.is_empty()
        && cells.iter().all(|c| {
            let c = c.trim_matches(':');
            !c.is_empty() && c.chars().all(|ch| ch == '-')
        })
}

/// Splits a program's stdout into its tables and notes.
pub fn parse(stdout: &str) -> Report {
    let mut report = Report::default();
    let lines: Vec<&str> = stdout.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        if line.starts_with('|') && i + 1 < lines.len() && lines[i + 1].trim().starts_with('|') {
            let header = cells(line);
            let alignment = cells(lines[i + 1]);
            if is_alignment_row(&alignment) {
                let mut rows = Vec::new();
                i += 2;
                while i < lines.len() && lines[i].trim().starts_with('|') {
                    rows.push(cells(lines[i]));
                    i += 1;
                }
                report.tables.push(Table {
                    header,
                    alignment,
                    rows,
                });
                continue;
            }
        }
        if !line.is_empty() {
            report.notes.push(line.to_string());
        }
        i += 1;
    }
    report
}

/// Why a report is not a well-formed set of tables, if it is not.
pub fn check_well_formed(report: &Report) -> Result<(), String> {
    if report.tables.is_empty() {
        return Err("no markdown table in the output".into());
    }
    for (t, table) in report.tables.iter().enumerate() {
        let width = table.header.len();
        if table.alignment.len() != width {
            return Err(format!(
                "table {t}: alignment row has {} cells, header {width}",
                table.alignment.len()
            ));
        }
        if table.rows.is_empty() {
            return Err(format!("table {t} has no rows"));
        }
        for (r, row) in table.rows.iter().enumerate() {
            if row.len() != width {
                return Err(format!(
                    "table {t}, row {r}: {} cells under a header of {width}",
                    row.len()
                ));
            }
            if row.iter().all(|c| c.is_empty()) {
                return Err(format!("table {t}, row {r} is empty"));
            }
        }
    }
    Ok(())
}

/// A cell's single number, with the text around it.
#[derive(Debug, Clone, PartialEq)]
struct Number<'a> {
    prefix: &'a str,
    value: f64,
    digits: &'a str,
    suffix: &'a str,
}

fn number_spans(cell: &str) -> Vec<(usize, usize)> {
    let bytes = cell.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let starts_number = bytes[i].is_ascii_digit()
            || (bytes[i] == b'-'
                && i + 1 < bytes.len()
                && bytes[i + 1].is_ascii_digit()
                && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric()));
        if !starts_number {
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
            i += 1;
        }
        if i + 1 < bytes.len()
            && (bytes[i] == b'e' || bytes[i] == b'E')
            && (bytes[i + 1].is_ascii_digit()
                || ((bytes[i + 1] == b'-' || bytes[i + 1] == b'+')
                    && i + 2 < bytes.len()
                    && bytes[i + 2].is_ascii_digit()))
        {
            i += 2;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
        }
        spans.push((start, i));
    }
    spans
}

fn single_number(cell: &str) -> Option<Number<'_>> {
    let spans = number_spans(cell);
    let &[(start, end)] = spans.as_slice() else {
        return None;
    };
    let digits = &cell[start..end];
    let value = digits.parse::<f64>().ok()?;
    Some(Number {
        prefix: &cell[..start],
        value,
        digits,
        suffix: &cell[end..],
    })
}

/// Formats `value` like `like` was written: same decimals, or scientific.
fn format_like(value: f64, like: &str) -> String {
    if like.contains(['e', 'E']) {
        let decimals = like
            .split(['e', 'E'])
            .next()
            .and_then(|mantissa| mantissa.split_once('.'))
            .map_or(0, |(_, d)| d.len());
        format!("{value:.decimals$e}")
    } else {
        let decimals = like.split_once('.').map_or(0, |(_, d)| d.len());
        format!("{value:.decimals$}")
    }
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// Merges the same cell from several runs.
fn merge_cell(cells: &[&str]) -> String {
    let first = cells[0];
    if cells.iter().all(|c| *c == first) {
        return first.to_string();
    }
    let numbers: Option<Vec<Number<'_>>> = cells.iter().map(|c| single_number(c)).collect();
    let Some(numbers) = numbers else {
        return most_common(cells);
    };
    let (prefix, suffix) = (numbers[0].prefix, numbers[0].suffix);
    if numbers
        .iter()
        .any(|n| n.prefix != prefix || n.suffix != suffix)
    {
        return most_common(cells);
    }
    let mut values: Vec<f64> = numbers.iter().map(|n| n.value).collect();
    values.sort_by(f64::total_cmp);
    let like = numbers
        .iter()
        .max_by_key(|n| n.digits.len())
        .map_or("0", |n| n.digits);
    format!(
        "{prefix}{}{suffix} ({}–{})",
        format_like(median(&values), like),
        format_like(values[0], like),
        format_like(values[values.len() - 1], like)
    )
}

/// The index of the first of `items` that most of them equal, and how many
/// do (ties go to the earliest).
fn majority<T: PartialEq>(items: &[T]) -> (usize, usize) {
    let count = |x: &T| items.iter().filter(|y| *y == x).count();
    let mut best = (0, count(&items[0]));
    for (i, x) in items.iter().enumerate() {
        let n = count(x);
        if n > best.1 {
            best = (i, n);
        }
    }
    best
}

/// The text most runs printed, with how many did: a verdict such as `met`
/// must follow the runs, not the first of them (ties go to the earliest).
fn most_common(cells: &[&str]) -> String {
    let (best, count) = majority(cells);
    format!("{} ({count} of {} runs)", cells[best], cells.len())
}

/// The verdicts a line gives, in order: each `met` or `NOT met` that ends a
/// clause (before `;`, `,`, `(` or the end of the line).
fn verdicts(line: &str) -> Vec<bool> {
    let mut found = Vec::new();
    for clause in line.split([';', ',', '(']) {
        let clause = clause.trim_end();
        if clause.ends_with("NOT met") {
            found.push(false);
        } else if clause.ends_with("met") && clause[..clause.len() - 3].ends_with([' ', ':']) {
            found.push(true);
        }
    }
    found
}

/// What a note says once its numbers and verdicts are set aside: the same
/// for the same line of different runs.
fn note_key(line: &str) -> String {
    line.replace("NOT met", "")
        .replace("met", "")
        .chars()
        .filter(|c| !c.is_ascii_digit() && *c != '.')
        .collect()
}

/// Merges the same note line from several runs. A line that gives verdicts
/// and differs across runs (its measured values do) becomes the line of the
/// first run whose verdicts most runs share, with how many do: the verdicts
/// of a merged report follow the runs, not the first of them. Other lines
/// that differ are the first run's.
fn merge_note(lines: &[&str]) -> String {
    let first = lines[0];
    if lines.iter().all(|l| *l == first) || verdicts(first).is_empty() {
        return first.to_string();
    }
    let all: Vec<Vec<bool>> = lines.iter().map(|l| verdicts(l)).collect();
    let (best, count) = majority(&all);
    format!(
        "{} [the verdicts of {count} of {} runs; this run's values]",
        lines[best],
        lines.len()
    )
}

/// Merges the reports of repeated runs of one benchmark. Tables that do not
/// line up across runs (a different shape) are taken from the first run, and
/// so is a note that not every run printed.
pub fn merge(runs: &[Report]) -> Report {
    let Some(first) = runs.first() else {
        return Report::default();
    };
    let mut merged = first.clone();
    // A note is merged with the same note of the other runs: the first
    // unused one that reads the same once numbers and verdicts are set
    // aside (a run may print a line the others do not, e.g. a ceiling).
    let mut used: Vec<Vec<bool>> = runs
        .iter()
        .map(|run| vec![false; run.notes.len()])
        .collect();
    for note in merged.notes.iter_mut() {
        let key = note_key(note);
        let mut lines = Vec::with_capacity(runs.len());
        for (run, used) in runs.iter().zip(used.iter_mut()) {
            let found = (0..run.notes.len()).find(|&k| !used[k] && note_key(&run.notes[k]) == key);
            if let Some(k) = found {
                used[k] = true;
                lines.push(run.notes[k].as_str());
            }
        }
        if lines.len() == runs.len() {
            *note = merge_note(&lines);
        }
    }
    for (t, table) in merged.tables.iter_mut().enumerate() {
        let same_shape = runs.iter().all(|run| {
            run.tables.get(t).is_some_and(|other| {
                other.header == table.header
                    && other.rows.len() == table.rows.len()
                    && other
                        .rows
                        .iter()
                        .zip(&table.rows)
                        .all(|(a, b)| a.len() == b.len())
            })
        });
        if !same_shape {
            continue;
        }
        for (r, row) in table.rows.iter_mut().enumerate() {
            for (c, cell) in row.iter_mut().enumerate() {
                let column: Vec<&str> = runs
                    .iter()
                    .map(|run| run.tables[t].rows[r][c].as_str())
                    .collect();
                *cell = merge_cell(&column);
            }
        }
    }
    merged
}

/// Renders a table back to markdown.
pub fn render(table: &Table) -> String {
    let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
    let mut text = line(&table.header);
    text += &line(&table.alignment);
    for row in &table.rows {
        text += &line(row);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUN_A: &str = "note one\n| size | Rust | C | ratio |\n|---:|---|---|---:|\n\
                         | 8 B | 1.20 µs | 1.10 µs | 1.09× |\n| 1 MiB | 80.0 µs | 79.0 µs | 1.01× |\n";
    const RUN_B: &str = "note one\n| size | Rust | C | ratio |\n|---:|---|---|---:|\n\
                         | 8 B | 1.40 µs | 1.10 µs | 1.27× |\n| 1 MiB | 82.0 µs | 80.0 µs | 1.03× |\n";
    const RUN_C: &str = "note one\n| size | Rust | C | ratio |\n|---:|---|---|---:|\n\
                         | 8 B | 1.30 µs | 1.20 µs | 1.08× |\n| 1 MiB | 81.0 µs | 78.0 µs | 1.04× |\n";

    #[test]
    fn parses_tables_and_notes() {
        let report = parse(RUN_A);
        assert_eq!(report.notes, vec!["note one"]);
        assert_eq!(report.tables.len(), 1);
        assert_eq!(report.tables[0].header, vec!["size", "Rust", "C", "ratio"]);
        assert_eq!(report.tables[0].rows[1][1], "80.0 µs");
        check_well_formed(&report).unwrap();
    }

    #[test]
    fn merges_to_median_and_range_keeping_labels() {
        let merged = merge(&[parse(RUN_A), parse(RUN_B), parse(RUN_C)]);
        let rows = &merged.tables[0].rows;
        assert_eq!(rows[0][0], "8 B");
        assert_eq!(rows[0][1], "1.30 µs (1.20–1.40)");
        assert_eq!(rows[0][2], "1.10 µs (1.10–1.20)");
        assert_eq!(rows[1][3], "1.03× (1.01–1.04)");
        check_well_formed(&merged).unwrap();
    }

    #[test]
    fn scientific_and_negative_numbers_keep_their_form() {
        assert_eq!(
            merge_cell(&["1.5e-3", "2.5e-3", "2.0e-3"]),
            "2.0e-3 (1.5e-3–2.5e-3)"
        );
        assert_eq!(merge_cell(&["-2", "-4"]), "-3 (-4–-2)");
        assert_eq!(merge_cell(&["a-1", "a-1"]), "a-1");
        assert_eq!(merge_cell(&["1/2", "1/3"]), "1/2 (1 of 2 runs)");
        assert_eq!(merge_cell(&["NOT met", "met", "met"]), "met (2 of 3 runs)");
    }

    #[test]
    fn verdict_lines_follow_most_runs() {
        assert_eq!(
            verdicts("target: a <= 1.2: 1.36: NOT met; b: 0.6: met; like for like, c: 0.61"),
            vec![false, true]
        );
        assert!(verdicts("note: the ceiling is permitted").is_empty());
        let runs = [
            "target: x >= 70%: lowest 35%: NOT met",
            "target: x >= 70%: lowest 72%: met",
            "target: x >= 70%: lowest 71%: met",
        ];
        assert_eq!(
            merge_note(&runs),
            "target: x >= 70%: lowest 72%: met [the verdicts of 2 of 3 runs; this run's values]"
        );
        assert_eq!(merge_note(&["same: met", "same: met"]), "same: met");
        assert_eq!(merge_note(&["took 3 s", "took 4 s"]), "took 3 s");
        let reports: Vec<Report> = runs.iter().map(|r| parse(r)).collect();
        assert_eq!(merge(&reports).notes, vec![merge_note(&runs)]);
        // A line only some runs print does not shift the others.
        let with_extra = [
            "ceiling: 1.1\ntarget: y: 2.0: met",
            "target: y: 1.0: NOT met",
        ];
        let reports: Vec<Report> = with_extra.iter().map(|r| parse(r)).collect();
        assert_eq!(
            merge(&reports).notes,
            vec![
                "ceiling: 1.1".to_string(),
                "target: y: 2.0: met [the verdicts of 1 of 2 runs; this run's values]".to_string()
            ]
        );
    }

    #[test]
    fn malformed_tables_are_reported() {
        let ragged = "| a | b |\n|---|---|\n| 1 |\n";
        assert!(check_well_formed(&parse(ragged)).is_err());
        assert!(check_well_formed(&parse("just text\n")).is_err());
        let empty = "| a | b |\n|---|---|\n";
        assert!(check_well_formed(&parse(empty)).is_err());
    }
}
