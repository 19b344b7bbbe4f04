//! ``transforms.normalize.fold``: the one folded form behind dedup keys, fingerprints, search
//! fields and canonical-name keys, with Python's exact NFKC and lower case.
//!
//! Flow of one pass: NFKC -> lower case -> the character table of ``transforms/normalize.py``
//! (marks and invisible characters deleted, letter and digit variants mapped, white space but
//! "\n" to " ") -> hamza before waw seated on waw (ءو/ئو -> ؤو) -> a run of yeh with a final
//! hamza (يء, ييئ) -> ئ when no letter follows -> runs of spaces to one, spaces around line
//! breaks and at the ends dropped. Passes repeat until the text is NFKC-stable (deleting a mark
//! can let its neighbours compose).

use std::collections::HashMap;

use crate::text;

pub struct Folder {
    /// Character -> its replacement ("" deletes it), for the characters of the table.
    table: HashMap<char, String>,
    /// The Basic Multilingual Plane characters of the table, as a bitmap (the common check).
    in_table: Vec<u64>,
}

impl Folder {
    pub fn new(table: HashMap<char, String>) -> Folder {
        let mut in_table = vec![0u64; 0x10000 / 64];
        for &c in table.keys() {
            let code = c as usize;
            if code < 0x10000 {
                in_table[code / 64] |= 1 << (code % 64);
            }
        }
        Folder { table, in_table }
    }

    fn replacement(&self, c: char) -> Option<&str> {
        let code = c as usize;
        if code < 0x10000 && self.in_table[code / 64] & (1 << (code % 64)) == 0 {
            return None;
        }
        self.table.get(&c).map(String::as_str)
    }

    fn fold_once(&self, text: &str) -> String {
        let normalized = text::python_nfkc(text);
        let mut chars: Vec<char> = Vec::with_capacity(normalized.len());
        let push = |c: char, chars: &mut Vec<char>| match self.replacement(c) {
            Some(replacement) => chars.extend(replacement.chars()),
            None => chars.push(c),
        };
        if normalized.contains('Σ') {
            text::python_lower(&normalized)
                .chars()
                .for_each(|c| push(c, &mut chars));
        } else {
            for c in normalized.chars() {
                match text::lower_char(c) {
                    Some(lowered) => lowered.chars().for_each(|l| push(l, &mut chars)),
                    None => push(c, &mut chars),
                }
            }
        }
        for k in 0..chars.len().saturating_sub(1) {
            if matches!(chars[k], 'ء' | 'ئ') && chars[k + 1] == 'و' {
                chars[k] = 'ؤ';
            }
        }
        let chars = final_yeh_hamza(chars);
        // Spaces: runs to one, none next to a line break, none at the ends.
        let mut out = String::with_capacity(chars.len() * 2);
        let (mut at, mut last) = (0, None);
        while at < chars.len() {
            if chars[at] != ' ' {
                out.push(chars[at]);
                last = Some(chars[at]);
                at += 1;
                continue;
            }
            let run_end = chars[at..]
                .iter()
                .position(|&c| c != ' ')
                .map_or(chars.len(), |n| at + n);
            if last.is_some_and(|c| c != '\n') && chars.get(run_end).is_some_and(|&c| c != '\n') {
                out.push(' ');
                last = Some(' ');
            }
            at = run_end;
        }
        out
    }

    /// ``fold``: folded until stable; one output line per input line.
    pub fn fold(&self, text: &str) -> String {
        let mut folded = self.fold_once(text);
        while !text::is_python_nfkc(&folded) {
            folded = self.fold_once(&folded);
        }
        folded
    }
}

/// ``re.sub(r"ي+[ءئ](?![^\W\d_])", "ئ", text)``: a run of yeh and a hamza not followed by a
/// letter becomes one ئ (a failed run is no match at any of its yehs either).
fn final_yeh_hamza(chars: Vec<char>) -> Vec<char> {
    if !chars
        .windows(2)
        .any(|pair| pair[0] == 'ي' && matches!(pair[1], 'ء' | 'ئ'))
    {
        return chars;
    }
    let letter_at = |k: usize| k < chars.len() && text::is_alnum(chars[k]) && !text::is_decimal(chars[k]);
    let mut out = Vec::with_capacity(chars.len());
    let mut at = 0;
    while at < chars.len() {
        if chars[at] != 'ي' {
            out.push(chars[at]);
            at += 1;
            continue;
        }
        let mut end = at;
        while end < chars.len() && chars[end] == 'ي' {
            end += 1;
        }
        if end < chars.len() && matches!(chars[end], 'ء' | 'ئ') && !letter_at(end + 1) {
            out.push('ئ');
            at = end + 1;
        } else {
            out.extend_from_slice(&chars[at..end]);
            at = end;
        }
    }
    out
}
