//! The story anchors of one text, compiled: `numbers`, `model_codes` and `latin_names` of
//! agents/stories/features.py, which stays the reference (and the fallback).
//!
//! Each regex of features.py is reproduced by a hand-written scanner that takes the same
//! steps as Python's backtracking engine, in the same order: the same match at the same
//! place, then the same decisions. Character classes are read only from anchor_tables.rs,
//! rendered by agents/stories/anchor_tables.py from Python's own answers (`\d`, `\s`, `\w`,
//! IGNORECASE classes and literals, `str.lower()`, `str.isupper()`), never from Rust's
//! Unicode tables (another Unicode version). The word lists (units, stop words, months)
//! come from features.py when `Anchors` is built.
//!
//! Offsets are character offsets (the text is decoded to a `Vec<char>` once), as in Python.
//! The amounts are handed back as numbers: Python formats them (`:g`, `_magnitude_key`).
//! `find` answers None where it does not reproduce Python: lone surrogates (no `&str`), and
//! a unit matched by IGNORECASE through a character whose `str.lower()` is not the unit's
//! (Python then raises KeyError or differs; Python's own path decides).

#[allow(dead_code)]
#[path = "anchor_tables.rs"]
mod tables;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyString;
use rustc_hash::{FxHashMap, FxHashSet};
use tables::*;

/// A unit of `_NUMBER`: its characters, and what it makes of the number before it.
struct Unit {
    chars: Vec<char>,
    percent: bool,
    multiplier: f64,
}

/// `(amounts as (percent?, value)), model codes, names, weak names`.
type Found = (Vec<(bool, f64)>, Vec<String>, Vec<String>, Vec<String>);

struct Bail; // a text Python's path must take

#[pyclass(frozen, module = "newswatch.agents.tagging._native")]
pub struct Anchors {
    word_units: Vec<Unit>,
    sign_units: Vec<Unit>,
    stop: FxHashSet<String>,
    months: FxHashMap<char, Vec<Vec<char>>>, // by first letter
    bmp: Vec<u8>,                            // CLASS_RANGES flags of U+0000..U+FFFF
    folds: FxHashMap<char, (char, bool)>,
}

fn unit_of(
    word: &str,
    percent: bool,
    multiplier: f64,
    covered: &FxHashSet<char>,
) -> PyResult<Unit> {
    let chars: Vec<char> = word.chars().collect();
    if chars.is_empty() {
        return Err(PyValueError::new_err("an empty unit"));
    }
    check_covered(word, covered)?;
    Ok(Unit {
        chars,
        percent,
        multiplier,
    })
}

fn check_covered(word: &str, covered: &FxHashSet<char>) -> PyResult<()> {
    match word.chars().find(|c| !covered.contains(c)) {
        Some(c) => Err(PyValueError::new_err(format!(
            "{word:?}: {c:?} is not covered by anchor_tables.rs (regenerate it)"
        ))),
        None => Ok(()),
    }
}

#[inline]
fn is_ascii_alnum(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

/// [A-Za-zÀ-ɏ]: the letters of `_LATIN_WORD`.
#[inline]
fn is_latin(c: char) -> bool {
    c.is_ascii_alphabetic() || ('\u{C0}'..='\u{24F}').contains(&c)
}

/// [A-Za-zÀ-ɏ0-9]: what may not touch a Latin word.
#[inline]
fn is_latin_or_digit(c: char) -> bool {
    is_latin(c) || c.is_ascii_digit()
}

/// [A-ZÀ-ÖØ-ÞĀ-Ž]: `_CAPITAL`.
#[inline]
fn is_capital(c: char) -> bool {
    c.is_ascii_uppercase()
        || ('\u{C0}'..='\u{D6}').contains(&c)
        || ('\u{D8}'..='\u{DE}').contains(&c)
        || ('\u{100}'..='\u{17D}').contains(&c)
}

/// `_END`: what ends a sentence.
#[inline]
fn is_end(c: char) -> bool {
    matches!(
        c,
        '.' | '!' | '?' | '。' | '！' | '？' | ':' | ';' | '«' | '»' | '"' | '“' | '”' | '„' | '\n'
    )
}

/// What may not follow a version's tail: [A-Za-z0-9] or [日月年号號時时点點].
#[inline]
fn blocks_version(c: char) -> bool {
    is_ascii_alnum(c)
        || matches!(
            c,
            '日' | '月' | '年' | '号' | '號' | '時' | '时' | '点' | '點'
        )
}

/// `_DAY_AFTER`'s characters.
#[inline]
fn is_day(c: char) -> bool {
    matches!(c, '日' | '号' | '號' | '일')
}

fn digit_value(c: char) -> u8 {
    let cp = c as u32;
    if c.is_ascii_digit() {
        return cp as u8 - b'0';
    }
    let i = DIGIT_RANGES.partition_point(|&(_, last, _)| last < cp);
    let (first, _, value) = DIGIT_RANGES[i]; // only called on DIGIT characters
    value + (cp - first) as u8
}

/// "l:" and `str.lower()` of a Latin word into `out`.
fn lower_latin(word: &[char], out: &mut String) {
    out.clear();
    out.push_str("l:");
    for &c in word {
        out.push_str(LATIN[c as usize].0);
    }
}

impl Anchors {
    #[inline]
    fn flags(&self, c: char) -> u8 {
        let cp = c as u32;
        if cp < 0x10000 {
            return self.bmp[cp as usize];
        }
        let i = CLASS_RANGES.partition_point(|&(_, last, _)| last < cp);
        match CLASS_RANGES.get(i) {
            Some(&(first, _, flags)) if first <= cp => flags,
            _ => 0,
        }
    }

    #[inline]
    fn has(&self, c: char, flag: u8) -> bool {
        self.flags(c) & flag != 0
    }

    #[inline]
    fn digit(&self, c: char) -> bool {
        c.is_ascii_digit() || (!c.is_ascii() && self.has(c, DIGIT))
    }

    /// IGNORECASE: the word character `x` matches (itself when none), and whether the
    /// match is exact (`x.lower()` is that character).
    #[inline]
    fn canon(&self, x: char) -> (char, bool) {
        if x.is_ascii() {
            // anchor_tables.py asserts that FOLDS maps ASCII this way and nothing else
            return (x.to_ascii_lowercase(), true);
        }
        match self.folds.get(&x) {
            Some(&found) => found,
            None => (x, true),
        }
    }

    /// IGNORECASE: does `word` match at t[at..] (not past `end`)? Some(exact) when it does.
    fn word_at(&self, t: &[char], at: usize, end: usize, word: &[char]) -> Option<bool> {
        if at + word.len() > end {
            return None;
        }
        let mut exact = true;
        for (&x, &c) in t[at..at + word.len()].iter().zip(word) {
            let (folded, same) = self.canon(x);
            if folded != c {
                return None;
            }
            exact &= same;
        }
        Some(exact)
    }

    // ---- numbers ----------------------------------------------------------------------

    /// The end of `_NUMBER`'s `num` group, the first digit at `p`.
    fn number_end(&self, t: &[char], p: usize) -> usize {
        let n = t.len();
        let mut run = 0; // digits after the first
        while p + 1 + run < n && self.digit(t[p + 1 + run]) {
            run += 1;
        }
        // \d{0,2}(?:[.,\u00a0\u202f ]\d{3})+(?!\d), backtracking as Python does.
        for k in (0..=run.min(2)).rev() {
            let q = p + 1 + k;
            let mut groups = 0;
            let mut x = q;
            while x + 3 < n
                && self.has(t[x], THOUSANDS_SEP)
                && self.digit(t[x + 1])
                && self.digit(t[x + 2])
                && self.digit(t[x + 3])
            {
                groups += 1;
                x += 4;
            }
            for g in (1..=groups).rev() {
                let e = q + 4 * g;
                if e >= n || !self.digit(t[e]) {
                    return e;
                }
            }
        }
        // \d*(?:[.,]\d+)?
        let mut x = p + 1 + run;
        if x + 1 < n && self.has(t[x], FRAC_SEP) && self.digit(t[x + 1]) {
            x += 2;
            while x < n && self.digit(t[x]) {
                x += 1;
            }
        }
        x
    }

    /// `_NUMBER`'s optional unit after the number ending at `x`: (match end, unit).
    fn unit_after(&self, t: &[char], x: usize) -> Result<(usize, Option<&Unit>), Bail> {
        let n = t.len();
        let spaced = x < n && self.has(t[x], SPACE);
        let both = [x + 1, x]; // \s? is greedy
        let starts = if spaced { &both[..] } else { &both[1..] };
        for &s in starts {
            let Some(&first) = t.get(s) else { continue };
            let first = self.canon(first).0;
            for unit in self.word_units.iter().filter(|u| u.chars[0] == first) {
                if let Some(exact) = self.word_at(t, s, n, &unit.chars) {
                    let e = s + unit.chars.len();
                    if e >= n || !self.has(t[e], UNIT_AFTER) {
                        return if exact {
                            Ok((e, Some(unit)))
                        } else {
                            Err(Bail)
                        };
                    }
                }
            }
        }
        for &s in starts {
            let Some(&first) = t.get(s) else { continue };
            let first = self.canon(first).0;
            for unit in self.sign_units.iter().filter(|u| u.chars[0] == first) {
                if let Some(exact) = self.word_at(t, s, n, &unit.chars) {
                    let e = s + unit.chars.len();
                    return if exact {
                        Ok((e, Some(unit)))
                    } else {
                        Err(Bail)
                    };
                }
            }
        }
        Ok((x, None))
    }

    /// `_parse_number` of a `num` group.
    fn parse_number(&self, raw: &[char]) -> Option<f64> {
        // _THOUSANDS.split: at a separator followed by exactly three digits; the pieces are
        // joined when every piece after the first has three characters.
        let n = raw.len();
        let cuts: Vec<usize> = (0..n)
            .filter(|&i| {
                i + 3 < n
                    && self.has(raw[i], THOUSANDS_SEP)
                    && raw[i + 1..i + 4].iter().all(|&c| self.digit(c))
                    && (i + 4 == n || !self.digit(raw[i + 4]))
            })
            .collect();
        let joined = !cuts.is_empty()
            && cuts
                .iter()
                .enumerate()
                .all(|(j, &i)| cuts.get(j + 1).copied().unwrap_or(n) - i - 1 == 3);
        let mut ascii = String::with_capacity(raw.len());
        let mut dots = 0;
        for (i, &c) in raw.iter().enumerate() {
            if joined && cuts.binary_search(&i).is_ok() {
                continue;
            }
            if self.digit(c) {
                ascii.push((b'0' + digit_value(c)) as char);
            } else if c == '.' || c == ',' {
                ascii.push('.');
                dots += 1;
            } else {
                return None; // float() of a number with a space inside: ValueError
            }
        }
        if dots > 1 {
            return None;
        }
        let value: f64 = ascii.parse().ok()?;
        (value.is_finite() && value < 1e18).then_some(value)
    }

    /// `_is_date`.
    fn is_date(&self, t: &[char], start: usize, end: usize, value: f64) -> bool {
        if !(value.fract() == 0.0 && (1.0..=31.0).contains(&value)) {
            return false;
        }
        let n = t.len();
        if end < n
            && (is_day(t[end]) || (self.has(t[end], SPACE) && end + 1 < n && is_day(t[end + 1])))
        {
            return true;
        }
        let lo = start.saturating_sub(12);
        let hi = (end + 12).min(n);
        let window = &t[lo..hi];
        for i in 0..window.len() {
            let before = i > 0 && self.has(window[i - 1], WORD);
            if before == self.has(window[i], WORD) {
                continue; // no \b
            }
            let Some(months) = self.months.get(&self.canon(window[i]).0) else {
                continue;
            };
            if months
                .iter()
                .any(|m| self.word_at(window, i, window.len(), m).is_some())
            {
                return true;
            }
        }
        false
    }

    fn numbers(&self, t: &[char], out: &mut Vec<(bool, f64)>) -> Result<(), Bail> {
        let mut seen: FxHashSet<(bool, u64)> = FxHashSet::default();
        let n = t.len();
        let mut p = 0;
        while p < n {
            if !self.digit(t[p]) || (p > 0 && self.has(t[p - 1], NUM_BEFORE)) {
                p += 1;
                continue;
            }
            let num_end = self.number_end(t, p);
            let (end, unit) = self.unit_after(t, num_end)?;
            if let Some(value) = self.parse_number(&t[p..num_end]) {
                if !self.is_date(t, p, end, value) {
                    let found = match unit {
                        Some(u) if u.percent => Some((true, value)),
                        Some(u) => Some((false, value * u.multiplier)),
                        None if value.fract() != 0.0
                            || (value >= 10.0 && !(1900.0..=2100.0).contains(&value)) =>
                        {
                            Some((false, value))
                        }
                        None => None,
                    };
                    if let Some(f) = found {
                        if seen.insert((f.0, f.1.to_bits())) {
                            out.push(f);
                        }
                    }
                }
            }
            p = end;
        }
        Ok(())
    }

    // ---- model codes ------------------------------------------------------------------

    /// `_VERSION` at `p` (a digit): (end of `ver`, end of `tail`), backtracking as Python.
    fn version_at(&self, t: &[char], p: usize) -> Option<(usize, usize)> {
        let n = t.len();
        let tail_end = |e: usize| -> Option<usize> {
            let mut longest = 0;
            while longest < 2 && e + longest < n && t[e + longest].is_ascii_alphabetic() {
                longest += 1;
            }
            (0..=longest)
                .rev()
                .map(|l| e + l)
                .find(|&x| x >= n || !blocks_version(t[x]))
        };
        let mut run = 0;
        while p + 1 + run < n && self.digit(t[p + 1 + run]) {
            run += 1;
        }
        for a in (p + 1..=p + 1 + run).rev() {
            // (?:\.\d+)? tried first, its digits backtracking too
            if a + 1 < n && t[a] == '.' && self.digit(t[a + 1]) {
                let mut b = a + 2;
                while b < n && self.digit(t[b]) {
                    b += 1;
                }
                for e in (a + 2..=b).rev() {
                    if let Some(te) = tail_end(e) {
                        return Some((e, te));
                    }
                }
            }
            if let Some(te) = tail_end(a) {
                return Some((a, te));
            }
        }
        None
    }

    /// `_WORD_BEFORE.search(text, max(0, start - 14), start)`: (word start, word end, sep?).
    fn word_before(t: &[char], start: usize) -> Option<(usize, usize, bool)> {
        let end = start; // endpos: `$` matches here, or before a last "\n"
        let dollar = |q: usize| q == end || (q + 1 == end && t[q] == '\n');
        for i in start.saturating_sub(14)..end {
            if i > 0 && is_ascii_alnum(t[i - 1]) {
                continue; // the look-behind sees before pos
            }
            let mut letters = 0;
            while letters < 13 && i + letters < end && t[i + letters].is_ascii_alphabetic() {
                letters += 1;
            }
            for k in (1..=letters).rev() {
                let j = i + k;
                if j < end && (t[j] == ' ' || t[j] == '-') && dollar(j + 1) {
                    return Some((i, j, true));
                }
                if dollar(j) {
                    return Some((i, j, false));
                }
            }
        }
        None
    }

    fn model_codes(&self, t: &[char], out: &mut FxHashSet<String>) {
        let n = t.len();
        let mut p = 0;
        let lower = |parts: &[&[char]]| -> String {
            let mut s = String::from("m:");
            for part in parts {
                s.extend(part.iter().map(|c| c.to_ascii_lowercase()));
            }
            s
        };
        while p < n {
            if !self.digit(t[p]) || (p > 0 && matches!(t[p - 1], '0'..='9' | '.' | ',')) {
                p += 1;
                continue;
            }
            let Some((ver_end, tail_end)) = self.version_at(t, p) else {
                p += 1;
                continue;
            };
            let ver = &t[p..ver_end];
            let mut tail = &t[ver_end..tail_end];
            if tail.len() == 1 && (tail[0] == 's' || tail[0] == 'S') {
                tail = &[];
            }
            let before = Self::word_before(t, p);
            p = tail_end;
            let word = before.map(|(a, b, _)| &t[a..b]);
            let sep = before.is_some_and(|(_, _, s)| s);
            if word.is_none() || sep {
                let named = word.is_some_and(|w| w[0].is_ascii_uppercase());
                if !tail.is_empty() || (named && ver.iter().filter(|&&c| c != '.').count() >= 3) {
                    out.insert(lower(&[ver, tail]));
                }
            }
            let Some(word) = word else { continue };
            if word.len() > 12 {
                continue;
            }
            let word_lower: String = word.iter().map(|c| c.to_ascii_lowercase()).collect();
            if self.stop.contains(&word_lower) {
                continue;
            }
            if sep && (word.len() < 2 || !word[0].is_ascii_uppercase()) {
                continue;
            }
            out.insert(lower(&[word, ver, tail]));
        }
    }

    // ---- Latin names ------------------------------------------------------------------

    /// The Latin words of `_LATIN_WORD` (or `_CAPITAL_WORD` with `capital`): (start, end).
    fn latin_words(t: &[char], capital: bool, mut each: impl FnMut(usize, usize)) {
        let n = t.len();
        let mut p = 0;
        while p < n {
            let c = t[p];
            let starts = if capital { is_capital(c) } else { is_latin(c) };
            if !starts || (p > 0 && is_latin_or_digit(t[p - 1])) {
                p += 1;
                continue;
            }
            let mut e = p + 1;
            while e < n && is_latin(t[e]) {
                e += 1;
            }
            if e >= n || !t[e].is_ascii_digit() {
                each(p, e);
            }
            p = e; // no match starts inside the run (its look-behind)
        }
    }

    fn latin_names(
        &self,
        t: &[char],
        latin: bool,
        german: bool,
        found: &mut Vec<String>,
        weak: &mut Vec<String>,
    ) {
        let mut lower = String::new();
        if !latin {
            let mut words: FxHashSet<&[char]> =
                FxHashSet::with_capacity_and_hasher(64, Default::default());
            Self::latin_words(t, false, |a, b| {
                words.insert(&t[a..b]);
            });
            for word in words {
                lower_latin(word, &mut lower);
                if word.len() >= 2 && !self.stop.contains(&lower[2..]) {
                    found.push(lower.clone());
                }
            }
            return;
        }
        // word -> (occurrences, sentence-initial occurrences)
        let mut counts: FxHashMap<&[char], (u32, u32)> =
            FxHashMap::with_capacity_and_hasher(64, Default::default());
        let space = |c: char| self.has(c, SPACE);
        Self::latin_words(t, true, |a, b| {
            let initial = a == 0
                || is_end(t[a - 1])
                || (a >= 2 && space(t[a - 1]) && is_end(t[a - 2]))
                || (a >= 3 && space(t[a - 1]) && space(t[a - 2]) && is_end(t[a - 3]));
            let entry = counts.entry(&t[a..b]).or_default();
            entry.0 += 1;
            entry.1 += initial as u32;
        });
        for (word, (count, initial)) in counts {
            if word.len() < 2 {
                continue;
            }
            lower_latin(word, &mut lower);
            if self.stop.contains(&lower[2..]) || !LATIN[word[0] as usize].1 {
                continue;
            }
            if word[1..]
                .iter()
                .any(|&c| LATIN[c as usize].0.chars().ne(std::iter::once(c)))
            {
                found.push(lower.clone()); // CamelCase or all caps
                continue;
            }
            if german {
                continue;
            }
            if count > initial {
                found.push(lower.clone());
                weak.push(lower.clone());
            }
        }
    }

    fn find_all(&self, t: &[char], latin: bool, german: bool) -> Option<Found> {
        let mut amounts = Vec::new();
        self.numbers(t, &mut amounts).ok()?;
        let mut codes = FxHashSet::default();
        self.model_codes(t, &mut codes);
        let (mut names, mut weak) = (Vec::new(), Vec::new());
        self.latin_names(t, latin, german, &mut names, &mut weak);
        Some((amounts, codes.into_iter().collect(), names, weak))
    }
}

#[pymethods]
impl Anchors {
    /// `word_units` and `sign_units`: (unit, percent?, multiplier) in the alternation's order;
    /// `stop_words`: `_CAPITAL_STOP`; `months`: the words of `_MONTHS`. All lower case.
    #[new]
    fn new(
        word_units: Vec<(String, bool, f64)>,
        sign_units: Vec<(String, bool, f64)>,
        stop_words: Vec<String>,
        months: Vec<String>,
    ) -> PyResult<Self> {
        let covered: FxHashSet<char> = COVERED.chars().collect();
        let units = |list: Vec<(String, bool, f64)>| -> PyResult<Vec<Unit>> {
            list.into_iter()
                .map(|(w, p, m)| unit_of(&w, p, m, &covered))
                .collect()
        };
        let mut by_first: FxHashMap<char, Vec<Vec<char>>> = FxHashMap::default();
        for month in months {
            check_covered(&month, &covered)?;
            let chars: Vec<char> = month.chars().collect();
            let Some(&first) = chars.first() else {
                return Err(PyValueError::new_err("an empty month word"));
            };
            by_first.entry(first).or_default().push(chars);
        }
        let mut bmp = vec![0u8; 0x10000];
        for &(first, last, flags) in CLASS_RANGES.iter().take_while(|r| r.0 < 0x10000) {
            for cp in first..=last.min(0xFFFF) {
                bmp[cp as usize] = flags;
            }
        }
        Ok(Anchors {
            word_units: units(word_units)?,
            sign_units: units(sign_units)?,
            stop: stop_words.into_iter().collect(),
            months: by_first,
            bmp,
            folds: FOLDS.iter().map(|&(v, c, e)| (v, (c, e))).collect(),
        })
    }

    /// `(amounts, model codes, names, weak names)` of `text`; None when Python's path must
    /// take it (lone surrogates; a unit cased with a character whose lower case differs).
    fn find(&self, text: &Bound<'_, PyString>, latin: bool, german: bool) -> Option<Found> {
        let Ok(text) = text.to_str() else {
            // the UnicodeEncodeError is Python's path's business, not ours
            return None;
        };
        let chars: Vec<char> = text.chars().collect();
        self.find_all(&chars, latin, german)
    }
}
