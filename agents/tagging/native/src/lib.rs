//! The hot path of newswatch's tagging engine, compiled (see ../../README.md, "Native core").
//!
//! Python (`tagger.py`) stays the reference: it loads the catalogue, compiles every pattern's
//! payloads, and applies the rules that run on few hits (ambiguous aliases, version
//! suffixes, a theme's `requires`, evidence snippets). It hands this module one
//! `spec.EngineSpec` (agents/tagging/spec.py; read here by attribute name into the
//! `#[derive(FromPyObject)]` structs below; shared constants in consts.rs, rendered from
//! spec.py). This module takes over what runs once per character, per raw match or per text,
//! where Python's per-call cost dominated:
//!
//! 1. normalisation (NFKC + lower case) for texts whose every character maps to exactly one
//!    character — the case where Python's `normalise()` keeps offsets 1:1. The per-character
//!    mapping is a table *computed by Python* (`unicodedata`, `str.lower`) so the result is the
//!    same by construction; any other character makes `scan` return `None` and Python
//!    normalises (then calls `scan_normalised`).
//! 2. the leftmost-longest Aho-Corasick pass (the `aho-corasick` crate's DFA, as ahocorasick-rs
//!    wraps it; searched by `search.rs`, long texts as two interleaved streams), with the
//!    same segmenting of huge texts, the same shorter patterns recovered inside a longer
//!    match, and the same word-boundary tests (`str.isalnum()` flags, again from Python's
//!    table); per-pattern plans (`spec.PlanSpec`) skip matches whose payloads all need a
//!    missing boundary, shortcuts the reference does not take and that change no result;
//! 3. the per-match bookkeeping: theme terms and proximity-rule sides are recorded here, in
//!    the order Python records them; aliases and stop phrases are handed back as events
//!    (`Scanned.events`) for Python's rules; multi-word wildcard phrases call Python's regex.
//! 4. theme scores (`Engine.themes`): Python's upper bound, the longest term per stretch of
//!    overlapping matches, proximity pairs, weights summed in Python's order;
//! 5. language detection (`LangDetector`), with langdetect.py's tables.
//!
//! All offsets handed back are character offsets into the normalised text, like Python's.

mod anchors;
#[allow(dead_code)] // some constants are for Python's side only
mod consts;
mod search;
#[rustfmt::skip] // generated: agents/stories/shingle_tables.py
mod shingle_tables;
mod shingles;

use consts::*;

use aho_corasick::dfa::DFA;
use aho_corasick::MatchKind;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyFrozenSet, PyString, PyTuple};
use rustc_hash::FxHashMap;

// The shared constants (payload kinds, table flags, ...) are in consts.rs, rendered from
// agents/tagging/spec.py.

/// A pattern's payload: `spec.PayloadSpec`, read by attribute name (owner and term are
/// indexes into Python lists).
#[derive(Clone, Copy, FromPyObject)]
struct Payload {
    kind: u8,
    left: bool,
    right: bool,
    owner: u32,
    term: u32,
    rule: u32,
    side: u32,
    phrase: u32, // index of the phrase regex (PHRASE only)
}

/// `spec.PlanSpec`: what a pattern's payloads need, decided once at compile time.
#[derive(Clone, Copy)]
struct Plan {
    needs_left: bool,
    needs_right: u8, // a RIGHT_* constant (spec.RightRule)
    first: u32,      // payloads[first..last]
    last: u32,
    simple: i32, // the single plain theme term / proximity side handled inline, else -1
    chars: u32,  // the pattern's length in characters
}

/// A shorter pattern inside a longer one, at byte and character offsets within it
/// (`spec.InnerSpec`).
#[derive(Clone, Copy, FromPyObject)]
struct Inner {
    sub: u32,
    x_byte: u32,
    x_char: u32,
    y_char: u32,
}

#[pyclass(frozen, module = "newswatch.agents.tagging._native")]
struct Engine {
    automaton: DFA,
    plans: Vec<Plan>,
    payloads: Vec<Payload>,
    inner: Vec<Vec<Inner>>,
    pattern_lens: Vec<usize>, // bytes
    table: Vec<u32>,          // code points 0..0x10000
    astral_base: u32,         // extra table for one astral range (emoji)
    astral: Vec<u32>,
    owners: Vec<Py<PyString>>, // entity and theme ids
    owner_at: FxHashMap<String, u32>,
    phrases: Vec<PyObject>, // compiled Python regexes of wildcard phrases
    max_spans: usize,
    max_mentions: u32,
    segment: usize,
    themes: FxHashMap<u32, ThemeBound>, // by theme (owner index)
    prefixes: rustc_hash::FxHashSet<Vec<u8>>, // Python's GLUED_PREFIXES (UTF-8)
    max_prefix: usize,                  // the longest, in characters
    nothing: Py<Scanned>,               // the one empty scan result
}

/// A theme's threshold and weights (its score and upper bound, as in Python's `_themes`).
struct ThemeBound {
    threshold: f64,
    terms: FxHashMap<u32, f64>,  // term -> weight
    rules: Vec<(u32, f64, f64)>, // proximity rule -> weight, within (words)
    entities: Vec<(u32, f64)>,   // entity (owner index) -> weight
}

/// Matches of one theme term or one side of a proximity rule, as (start, end) characters.
type Spans = Vec<(u32, u32)>;
/// A theme's evidence: (weight, start, end).
type Evidence = Vec<(f64, u32, u32)>;

/// What one scan found; turned into Python objects at the end.
#[derive(Default)]
struct Found {
    // theme terms: (owner, term) -> index into term_spans, in first-seen order per owner
    term_index: FxHashMap<(u32, u32), usize>,
    term_spans: Vec<(u32, u32, Spans)>,
    near_index: FxHashMap<(u32, u32, u32), usize>,
    near_spans: Vec<((u32, u32, u32), Spans)>,
    themes: Vec<u32>,
    events: Vec<u32>, // (payload, start, end, right_ok) per alias / stop event
    sure: Vec<u32>,   // per entity: alias events Python surely accepts
    text: Option<Py<PyString>>,
}

impl Found {
    fn theme(&mut self, owner: u32) {
        if !self.themes.contains(&owner) {
            self.themes.push(owner);
        }
    }

    fn term(&mut self, p: &Payload, start: u32, end: u32, max: usize) {
        match self.term_index.get(&(p.owner, p.term)) {
            Some(&i) => {
                let spans = &mut self.term_spans[i].2;
                if spans.len() < max {
                    spans.push((start, end));
                }
            }
            None => {
                self.term_index
                    .insert((p.owner, p.term), self.term_spans.len());
                self.term_spans.push((p.owner, p.term, vec![(start, end)]));
            }
        }
        self.theme(p.owner);
    }

    fn near(&mut self, p: &Payload, start: u32, end: u32, max: usize) {
        let key = (p.owner, p.rule, p.side);
        match self.near_index.get(&key) {
            Some(&i) => {
                let spans = &mut self.near_spans[i].1;
                if spans.len() < max {
                    spans.push((start, end));
                }
            }
            None => {
                self.near_index.insert(key, self.near_spans.len());
                self.near_spans.push((key, vec![(start, end)]));
            }
        }
        self.theme(p.owner);
    }
}

/// The character that ends just before byte `pos` (UTF-8), or None at the start.
#[inline]
fn char_before(bytes: &[u8], pos: usize) -> Option<u32> {
    if pos == 0 {
        return None;
    }
    let mut i = pos - 1;
    while i > 0 && (bytes[i] & 0xC0) == 0x80 {
        i -= 1;
    }
    Some(decode(bytes, i))
}

/// The character starting at byte `pos`, or None at the end.
#[inline]
fn char_at(bytes: &[u8], pos: usize) -> Option<u32> {
    if pos >= bytes.len() {
        None
    } else {
        Some(decode(bytes, pos))
    }
}

#[inline]
fn decode(bytes: &[u8], i: usize) -> u32 {
    let b0 = bytes[i] as u32;
    if b0 < 0x80 {
        b0
    } else if b0 < 0xE0 {
        ((b0 & 0x1F) << 6) | (bytes[i + 1] as u32 & 0x3F)
    } else if b0 < 0xF0 {
        ((b0 & 0x0F) << 12) | ((bytes[i + 1] as u32 & 0x3F) << 6) | (bytes[i + 2] as u32 & 0x3F)
    } else {
        ((b0 & 0x07) << 18)
            | ((bytes[i + 1] as u32 & 0x3F) << 12)
            | ((bytes[i + 2] as u32 & 0x3F) << 6)
            | (bytes[i + 3] as u32 & 0x3F)
    }
}

/// The length of the UTF-8 sequence that starts with `lead`.
#[inline]
fn utf8_len(lead: u8) -> usize {
    match lead {
        0..0x80 => 1,
        0xC0..0xE0 => 2,
        0xE0..0xF0 => 3,
        _ => 4,
    }
}

/// The UTF-8 length of a code point.
#[inline]
fn utf8_len_of(cp: u32) -> usize {
    match cp {
        0..0x80 => 1,
        0x80..0x800 => 2,
        0x800..0x10000 => 3,
        _ => 4,
    }
}

/// Counts characters (non-continuation bytes) of `bytes[from..to]`.
#[inline]
fn count_chars(bytes: &[u8], from: usize, to: usize) -> usize {
    bytes[from..to]
        .iter()
        .filter(|&&b| (b & 0xC0) != 0x80)
        .count()
}

impl Engine {
    #[inline]
    fn entry(&self, cp: u32) -> u32 {
        if cp < 0x10000 {
            self.table[cp as usize]
        } else if cp >= self.astral_base && ((cp - self.astral_base) as usize) < self.astral.len() {
            self.astral[(cp - self.astral_base) as usize]
        } else {
            0
        }
    }

    /// `not (ch.isalnum() and ch < "\u2e80")`: a word boundary next to this character.
    #[inline]
    fn boundary(&self, ch: Option<u32>) -> bool {
        match ch {
            None => true,
            Some(cp) => cp >= 0x2E80 || self.table[cp as usize] & WORD == 0,
        }
    }

    /// Python's left-boundary test: `boundary()` of the character before, or `_left_free`:
    /// an Arabic or Hebrew match preceded only by glued particles ("وديب سيك"). (Thai and
    /// Lao letters are no WORD characters in the table, so `boundary()` covers them.)
    #[inline]
    fn left_ok(&self, bytes: &[u8], bs: usize) -> bool {
        let before = char_before(bytes, bs);
        if self.boundary(before) {
            return true;
        }
        let (Some(b), Some(first)) = (before, char_at(bytes, bs)) else {
            return false;
        };
        if !(0x0590..=0x06FF).contains(&b) || !(0x0590..=0x06FF).contains(&first) {
            return false;
        }
        // Walk back over at most `max_prefix` word characters to the start of the word.
        let mut i = bs;
        let mut chars = 0;
        while i > 0 && chars <= self.max_prefix {
            let ch = char_before(bytes, i);
            if self.boundary(ch) {
                break;
            }
            i -= utf8_len_of(ch.unwrap_or(0));
            chars += 1;
        }
        if chars > self.max_prefix {
            return false; // a longer word: the match is inside it
        }
        self.prefixes.contains(&bytes[i..bs])
    }

    /// May the character after an alias start a version or an inflection (`spec.TAIL_STARTS`,
    /// digits, Cyrillic and Bengali letters)? Where not, `Tagger._alias` would reject it.
    fn may_extend(&self, py: Python<'_>, cp: u32) -> bool {
        if cp < 0x80 && TAIL_ASCII.contains(&(cp as u8)) {
            return true;
        }
        if (0x0400..=0x052F).contains(&cp)
            || (0x0980..=0x09FF).contains(&cp)
            || TAIL_WIDE.contains(&cp)
        {
            return true;
        }
        if cp < 0x10000 {
            return self.table[cp as usize] & DIGIT != 0;
        }
        // Astral digits are rare enough to ask Python.
        let Some(ch) = char::from_u32(cp) else {
            return false;
        };
        let s = PyString::new(py, ch.encode_utf8(&mut [0u8; 4]));
        s.call_method0("isdigit")
            .and_then(|r| r.extract::<bool>())
            .unwrap_or(false)
    }

    /// NFKC + lower case by table, when every character maps to exactly one character.
    /// ASCII runs are copied as they are and lowered in one pass at the end (a mapped
    /// character is never an upper-case ASCII letter); only the other characters are
    /// decoded and looked up.
    fn fold(&self, text: &str) -> Option<String> {
        let bytes = text.as_bytes();
        let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while let Some(offset) = bytes[i..].iter().position(|&b| b >= 0x80) {
            let at = i + offset;
            out.extend_from_slice(&bytes[i..at]);
            let cp = decode(bytes, at);
            let entry = self.entry(cp);
            if entry & MAPPABLE == 0 {
                return None;
            }
            let mapped = char::from_u32(entry & MAPPED_MASK)?;
            out.extend_from_slice(mapped.encode_utf8(&mut [0u8; 4]).as_bytes());
            i = at + utf8_len(bytes[at]);
        }
        out.extend_from_slice(&bytes[i..]);
        out.make_ascii_lowercase();
        // SAFETY: `out` holds whole UTF-8 sequences copied from `text` and characters
        // encoded by `encode_utf8`; lowering ASCII letters keeps it valid.
        Some(unsafe { String::from_utf8_unchecked(out) })
    }

    /// Python's `_segments`: pieces of about `segment` characters cut after a line break (else
    /// a space) in their second half; as (byte_lo, byte_hi, char_lo).
    fn segments(&self, text: &str, nchars: usize) -> Vec<(usize, usize, usize)> {
        if nchars <= self.segment {
            return vec![(0, text.len(), 0)];
        }
        let mut out = Vec::new();
        let half = self.segment / 2;
        let (mut lo_char, mut lo_byte) = (0usize, 0usize);
        while lo_char < nchars {
            let hi_char = (lo_char + self.segment).min(nchars);
            // Walk [lo, hi): the last "\n" and " " at or after lo + half, and hi's byte.
            let (mut newline, mut space) = (None, None);
            let mut byte_hi = text.len();
            for (c, (b, ch)) in (lo_char..).zip(text[lo_byte..].char_indices()) {
                if c == hi_char {
                    byte_hi = lo_byte + b;
                    break;
                }
                if c >= lo_char + half {
                    if ch == '\n' {
                        newline = Some((c, lo_byte + b));
                    } else if ch == ' ' {
                        space = Some((c, lo_byte + b));
                    }
                }
            }
            let (mut hi_c, mut hi_b) = (hi_char, byte_hi);
            if hi_char < nchars {
                if let Some((cc, bb)) = newline.or(space) {
                    hi_c = cc + 1;
                    hi_b = bb + 1;
                }
            }
            out.push((lo_byte, hi_b, lo_char));
            lo_char = hi_c;
            lo_byte = hi_b;
        }
        out
    }

    /// The text as a Python string, made once per scan and only when a rule needs it.
    fn py_text<'py>(&self, py: Python<'py>, found: &mut Found, text: &str) -> Bound<'py, PyString> {
        found
            .text
            .get_or_insert_with(|| PyString::new(py, text).unbind())
            .bind(py)
            .clone()
    }

    /// Scan a normalised text (`py_text`: the same text as a Python string, when the caller
    /// has one) into what Python's rules need: a `Scanned`, or `nothing` when there is no
    /// alias and no theme evidence.
    fn scan_owned(
        &self,
        py: Python<'_>,
        norm: String,
        py_text: Option<Py<PyString>>,
    ) -> PyResult<Py<Scanned>> {
        let mut found = self.scan_text(py, &norm)?;
        found.text = py_text;
        let skip = self.hopeless(&found);
        found.themes.retain(|t| !skip.contains(t));
        if found.events.is_empty() && found.themes.is_empty() {
            return Ok(self.nothing.clone_ref(py));
        }
        let text = self.py_text(py, &mut found, &norm).unbind();
        let owner = |o: &u32| self.owners[*o as usize].bind(py);
        let themes = PyFrozenSet::new(py, found.themes.iter().map(owner))?.unbind();
        let skip = PyFrozenSet::new(py, skip.iter().map(owner))?.unbind();
        let events = PyTuple::new(
            py,
            found
                .events
                .chunks(4)
                .map(|e| (e[0], e[1], e[2], e[3] != 0))
                .collect::<Vec<_>>(),
        )?
        .unbind();
        let stops = found
            .events
            .chunks(4)
            .filter(|e| self.payloads[e[0] as usize].kind == TSTOP)
            .map(|e| (self.payloads[e[0] as usize].owner, e[1], e[2]))
            .collect();
        found.text = None;
        let scanned = Scanned {
            text,
            themes,
            events,
            skip,
            found,
            norm,
            stops,
        };
        Py::new(py, scanned)
    }

    fn scan_text(&self, py: Python<'_>, text: &str) -> PyResult<Found> {
        let bytes = text.as_bytes();
        let ascii = text.is_ascii();
        let nchars = if ascii {
            bytes.len()
        } else {
            count_chars(bytes, 0, bytes.len())
        };
        if nchars > u32::MAX as usize / 2 {
            return Err(PyValueError::new_err("text too large"));
        }
        let mut found = Found {
            sure: vec![0; self.owners.len()],
            ..Found::default()
        };
        for (byte_lo, byte_hi, char_lo) in self.segments(text, nchars) {
            // byte -> char offsets: a cursor that only moves forward (matches come in order).
            let (mut cur_byte, mut cur_char) = (byte_lo, char_lo);
            for (pattern, ms, me) in search::find_all(&self.automaton, &bytes[byte_lo..byte_hi]) {
                let (bs, be) = (byte_lo + ms, byte_lo + me);
                let start = if ascii {
                    bs
                } else {
                    cur_char += count_chars(bytes, cur_byte, bs);
                    cur_byte = bs;
                    cur_char
                };
                let index = pattern as usize;
                let plan = self.plans[index];
                let end = start + plan.chars as usize;
                let left_ok = self.left_ok(bytes, bs);
                if left_ok || !plan.needs_left {
                    let after = char_at(bytes, be);
                    let right_ok = self.boundary(after);
                    let simple = (plan.simple >= 0).then(|| self.payloads[plan.simple as usize]);
                    match simple {
                        Some(p) if right_ok || !p.right => {
                            self.record(&p, start as u32, end as u32, &mut found)
                        }
                        _ => {
                            if right_ok
                                || plan.needs_right == RIGHT_PER_PAYLOAD
                                || (plan.needs_right == RIGHT_ALIAS_TAIL
                                    && self.may_extend(py, after.unwrap_or(32)))
                            {
                                self.hit(
                                    py, text, &plan, bs, start, end, left_ok, right_ok, &mut found,
                                )?;
                            }
                        }
                    }
                }
                for inner in &self.inner[index] {
                    self.inner_hit(py, text, inner, bs, start, &mut found)?;
                }
            }
        }
        Ok(found)
    }

    /// Themes whose score cannot reach their threshold whatever the rules decide: Python's
    /// upper bound in `_themes`, taken over every alias candidate's entity (a superset of
    /// the entities the rules accept) and only positive entity weights. Python skips them.
    fn hopeless(&self, found: &Found) -> Vec<u32> {
        let mut out = Vec::new();
        for &theme in &found.themes {
            let Some(bound) = self.themes.get(&theme) else {
                continue;
            };
            let mut score = 0.0;
            for (owner, term, spans) in &found.term_spans {
                if *owner == theme {
                    let weight = bound.terms.get(term).copied().unwrap_or(0.0);
                    score += weight * REPEAT[spans.len().min(3)];
                }
            }
            for &(rule, weight, _) in &bound.rules {
                let both = found.near_index.contains_key(&(theme, rule, 0))
                    && found.near_index.contains_key(&(theme, rule, 1));
                if both {
                    score += weight;
                }
            }
            for &(entity, weight) in &bound.entities {
                let named = found.events.chunks(4).any(|e| {
                    let p = &self.payloads[e[0] as usize];
                    (p.kind == ALIAS || p.kind == AMBIG) && p.owner == entity
                });
                if named && weight > 0.0 {
                    score += weight;
                }
            }
            // A margin for float sums taken in another order than Python's.
            if score + 1e-9 < bound.threshold || score + 1e-9 <= 0.0 {
                out.push(theme);
            }
        }
        out
    }

    fn record(&self, p: &Payload, start: u32, end: u32, found: &mut Found) {
        if p.kind == TERM {
            found.term(p, start, end, self.max_spans);
        } else {
            found.near(p, start, end, self.max_spans);
        }
    }

    /// A shorter pattern inside a longer match (Python's `_scan` sends it to `_hit` too).
    fn inner_hit(
        &self,
        py: Python<'_>,
        text: &str,
        inner: &Inner,
        outer_byte: usize,
        outer_char: usize,
        found: &mut Found,
    ) -> PyResult<()> {
        let bytes = text.as_bytes();
        let plan = self.plans[inner.sub as usize];
        let bs = outer_byte + inner.x_byte as usize;
        let start = outer_char + inner.x_char as usize;
        let end = outer_char + inner.y_char as usize;
        let left_ok = self.left_ok(bytes, bs);
        if plan.needs_left && !left_ok {
            return Ok(());
        }
        // The pattern's own byte length: its end in bytes.
        let be = bs + self.pattern_bytes(inner.sub as usize);
        let after = char_at(bytes, be);
        let right_ok = self.boundary(after);
        let simple = (plan.simple >= 0).then(|| self.payloads[plan.simple as usize]);
        match simple {
            Some(p) if right_ok || !p.right => self.record(&p, start as u32, end as u32, found),
            _ => {
                if right_ok
                    || plan.needs_right == RIGHT_PER_PAYLOAD
                    || (plan.needs_right == RIGHT_ALIAS_TAIL
                        && self.may_extend(py, after.unwrap_or(32)))
                {
                    self.hit(py, text, &plan, bs, start, end, left_ok, right_ok, found)?;
                }
            }
        }
        Ok(())
    }

    fn pattern_bytes(&self, index: usize) -> usize {
        self.pattern_lens[index]
    }

    /// Python's `_hit`: every payload of a pattern that matched.
    #[allow(clippy::too_many_arguments)]
    fn hit(
        &self,
        py: Python<'_>,
        text: &str,
        plan: &Plan,
        _bs: usize,
        start: usize,
        end: usize,
        left_ok: bool,
        right_ok: bool,
        found: &mut Found,
    ) -> PyResult<()> {
        for i in plan.first..plan.last {
            let p = self.payloads[i as usize];
            if p.left && !left_ok {
                continue;
            }
            if p.kind == ALIAS || p.kind == AMBIG {
                // Python keeps at most `max_mentions` candidates per entity, and accepts
                // every alias with a right boundary (or none needed): once that many such
                // events went to Python, later ones of the entity change nothing there.
                let sure = &mut found.sure[p.owner as usize];
                if *sure < self.max_mentions {
                    *sure += (right_ok || !p.right) as u32;
                    found
                        .events
                        .extend([i, start as u32, end as u32, right_ok as u32]);
                }
            } else if p.right && !right_ok {
                continue;
            } else if p.kind == TERM {
                found.term(&p, start as u32, end as u32, self.max_spans);
            } else if p.kind == PHRASE {
                let s = self.py_text(py, found, text);
                let m = self.phrases[p.phrase as usize]
                    .bind(py)
                    .call_method1("match", (s, start))?;
                if !m.is_none() {
                    let stop: usize = m.call_method0("end")?.extract()?;
                    found.term(&p, start as u32, stop as u32, self.max_spans);
                }
            } else if p.kind == NEAR {
                found.near(&p, start as u32, end as u32, self.max_spans);
            } else if p.kind == STOP || p.kind == TSTOP {
                found.events.extend([i, start as u32, end as u32, 0]);
            }
        }
        Ok(())
    }
}

/// `spec.PlanSpec`, read by attribute name.
#[derive(FromPyObject)]
struct PlanSpec {
    needs_left: bool,
    needs_right: u8,
    first: u32,
    last: u32,
    simple: i32,
}

/// `spec.ThemeSpec`, read by attribute name.
#[derive(FromPyObject)]
struct ThemeSpec {
    owner: u32,
    threshold: f64,
    terms: Vec<(u32, f64)>,
    rules: Vec<(u32, f64, f64)>,
    entities: Vec<(u32, f64)>,
}

/// `spec.EngineSpec`: the compiled catalogue, read by attribute name (see agents/tagging/spec.py
/// for what each field holds).
#[derive(FromPyObject)]
struct EngineSpec {
    patterns: Vec<String>,
    plans: Vec<PlanSpec>,
    payloads: Vec<Payload>,
    inner: Vec<Vec<Inner>>,
    table: Vec<u32>,
    astral_base: u32,
    astral: Vec<u32>,
    owners: Vec<Py<PyString>>,
    phrases: Vec<PyObject>,
    max_spans: usize,
    max_mentions: u32,
    segment: usize,
    themes: Vec<ThemeSpec>,
    prefixes: Vec<String>,
}

#[pymethods]
impl Engine {
    /// Built from `spec.EngineSpec` (`fastpath.engine_spec`); ValueError when an index in it
    /// points nowhere.
    #[new]
    fn new(py: Python<'_>, spec: EngineSpec) -> PyResult<Self> {
        let EngineSpec {
            patterns,
            plans,
            payloads,
            inner,
            table,
            astral_base,
            astral,
            owners,
            phrases,
            max_spans,
            max_mentions,
            segment,
            themes,
            prefixes,
        } = spec;
        // Every index the scan follows must exist: a scan never panics on its tables.
        let consistent = plans.len() == patterns.len()
            && inner.len() == patterns.len()
            && table.len() == 0x10000
            && plans.iter().all(|p| {
                p.first <= p.last
                    && p.last as usize <= payloads.len()
                    && (p.simple < 0 || (p.simple as u32 >= p.first && (p.simple as u32) < p.last))
            })
            && payloads.iter().all(|p| {
                (p.owner as usize) < owners.len()
                    && (p.kind != PHRASE || (p.phrase as usize) < phrases.len())
            })
            && inner
                .iter()
                .flatten()
                .all(|i| (i.sub as usize) < patterns.len() && i.x_char <= i.y_char)
            && themes.iter().all(|t| (t.owner as usize) < owners.len())
            && themes
                .iter()
                .flat_map(|t| &t.entities)
                .all(|&(e, _)| (e as usize) < owners.len());
        if !consistent {
            return Err(PyValueError::new_err("inconsistent engine tables"));
        }
        // `search::find_all` assumes every pattern has a byte.
        if patterns.iter().any(String::is_empty) {
            return Err(PyValueError::new_err("empty pattern"));
        }
        // No prefilter: with thousands of patterns the one the crate picks still makes the
        // start state special, and the search consults it after nearly every byte that
        // leaves the DFA at its start (measured 228 against 201 MB/s on the bench corpus,
        // same matches: a prefilter only skips ahead, it never changes what is found).
        let automaton = DFA::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .prefilter(false)
            .build(&patterns)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        let plans = plans
            .into_iter()
            .zip(&patterns)
            .map(|(p, pattern)| Plan {
                needs_left: p.needs_left,
                needs_right: p.needs_right,
                first: p.first,
                last: p.last,
                simple: p.simple,
                chars: pattern.chars().count() as u32,
            })
            .collect();
        let owner_at = owners
            .iter()
            .enumerate()
            .map(|(i, o)| Ok((o.bind(py).to_str()?.to_owned(), i as u32)))
            .collect::<PyResult<_>>()?;
        let max_prefix = prefixes
            .iter()
            .map(|p| p.chars().count())
            .max()
            .unwrap_or(0);
        let prefixes = prefixes.into_iter().map(String::into_bytes).collect();
        Ok(Engine {
            nothing: Py::new(py, Scanned::nothing(py)?)?,
            prefixes,
            max_prefix,
            owner_at,
            automaton,
            plans,
            payloads,
            inner,
            pattern_lens: patterns.iter().map(String::len).collect(),
            table,
            astral_base,
            astral,
            owners,
            phrases,
            max_spans,
            max_mentions,
            segment,
            themes: themes
                .into_iter()
                .map(|t| {
                    let bound = ThemeBound {
                        threshold: t.threshold,
                        terms: t.terms.into_iter().collect(),
                        rules: t.rules,
                        entities: t.entities,
                    };
                    (t.owner, bound)
                })
                .collect(),
        })
    }

    /// The raw leftmost-longest matches of the automaton in `text` (already normalised), as
    /// (pattern, start byte, end byte): what `scan` starts from, for tests.
    fn matches(&self, text: &str) -> Vec<(u32, usize, usize)> {
        search::find_all(&self.automaton, text.as_bytes())
    }

    /// The normalised text (NFKC + lower case), or None when a character needs Python's
    /// `normalise()` (one that does not map to exactly one character by the table).
    fn normalise(&self, text: &str) -> Option<String> {
        self.fold(text)
    }

    /// Normalise `text` by the table and scan it; None when a character needs Python's
    /// `normalize()` (then Python calls `scan_normalised`).
    /// Raises UnicodeEncodeError for lone surrogates (Python cleans them and retries).
    fn scan(&self, py: Python<'_>, text: &Bound<'_, PyString>) -> PyResult<Option<Py<Scanned>>> {
        match self.fold(text.to_str()?) {
            Some(folded) => self.scan_owned(py, folded, None).map(Some),
            None => Ok(None),
        }
    }

    /// Scan `text`, normalised by Python's `normalize()` already.
    fn scan_normalised(&self, py: Python<'_>, text: &Bound<'_, PyString>) -> PyResult<Py<Scanned>> {
        let raw = text.to_str()?.to_owned();
        self.scan_owned(py, raw, Some(text.clone().unbind()))
    }

    /// Python's `_themes` up to the score, for the themes in `touched` (sorted ids): the
    /// upper bound, one term per stretch of overlapping matches (`_longest`), proximity
    /// pairs (`_near_pair`) and the entities' weights, summed in Python's order. Returns
    /// `[(theme, score, [(weight, start, end)])]` for the themes that reach their threshold;
    /// Python checks `requires` and turns the evidence into snippets.
    fn themes(
        &self,
        py: Python<'_>,
        scanned: &Scanned,
        touched: Vec<String>,
        entities: Vec<String>,
    ) -> Vec<(Py<PyString>, f64, Evidence)> {
        let named: Vec<u32> = entities
            .iter()
            .filter_map(|e| self.owner_at.get(e).copied())
            .collect();
        let found = &scanned.found;
        let mut out = Vec::new();
        let mut index: Option<Vec<u32>> = None; // char -> byte offsets, built when needed
        for theme_id in &touched {
            let Some(&theme) = self.owner_at.get(theme_id) else {
                continue;
            };
            let Some(info) = self.themes.get(&theme) else {
                continue;
            };
            let terms: Vec<(u32, &Spans)> = found
                .term_spans
                .iter()
                .filter(|(owner, _, _)| *owner == theme)
                .map(|(_, term, spans)| (*term, spans))
                .collect();
            let weight = |term: u32| info.terms.get(&term).copied().unwrap_or(0.0);
            let mut bound = 0.0;
            for (term, spans) in &terms {
                bound += weight(*term) * REPEAT[spans.len().min(3)];
            }
            let side = |rule: u32, side: u32| {
                found
                    .near_index
                    .get(&(theme, rule, side))
                    .map(|&i| &found.near_spans[i].1)
            };
            let pairs: Vec<(f64, f64, &Spans, &Spans)> = info
                .rules
                .iter()
                .filter_map(|&(rule, w, within)| Some((w, within, side(rule, 0)?, side(rule, 1)?)))
                .collect();
            for pair in &pairs {
                bound += pair.0;
            }
            for (entity, w) in &info.entities {
                if named.contains(entity) {
                    bound += w;
                }
            }
            if bound < info.threshold || bound <= 0.0 {
                continue;
            }
            let stops: Vec<(u32, u32)> = scanned
                .stops
                .iter()
                .filter(|s| s.0 == theme)
                .map(|s| (s.1, s.2))
                .collect();
            let mut score = 0.0;
            let mut evidence = Vec::new();
            for (term, spans) in longest(&terms, &stops, &weight) {
                let w = weight(term);
                score += w * REPEAT[spans.len().min(3)];
                evidence.push((w, spans[0].0, spans[0].1));
            }
            for &(w, within, left, right) in &pairs {
                let (left, right) = (free(left, &stops), free(right, &stops));
                if let Some((a, b)) = near_pair(&scanned.norm, &mut index, &left, &right, within) {
                    score += w;
                    evidence.push((w, a, b));
                }
            }
            for (entity, w) in &info.entities {
                if named.contains(entity) {
                    score += w;
                }
            }
            if score <= 0.0 || score < info.threshold {
                continue;
            }
            out.push((self.owners[theme as usize].clone_ref(py), score, evidence));
        }
        out
    }
}

/// What `Engine.scan` found: for the rules in Python (the getters) and for `Engine.themes`
/// (theme terms, proximity sides, theme stops and the normalised text).
#[pyclass(frozen, module = "newswatch.agents.tagging._native")]
struct Scanned {
    /// The normalised text ("" in the empty result).
    #[pyo3(get)]
    text: Py<PyString>,
    /// The themes with evidence (those that cannot reach their threshold left out).
    #[pyo3(get)]
    themes: Py<PyFrozenSet>,
    /// Alias and stop-phrase events `(payload, start, end, right_ok)`, in the order the
    /// reference engine meets them; `payload` indexes `EngineSpec.payloads`.
    #[pyo3(get)]
    events: Py<PyTuple>,
    /// The themes that cannot reach their threshold whatever the rules decide.
    #[pyo3(get)]
    skip: Py<PyFrozenSet>,
    found: Found,
    norm: String,
    stops: Vec<(u32, u32, u32)>, // theme, start, end
}

impl Scanned {
    /// The empty result: no alias, no theme evidence.
    fn nothing(py: Python<'_>) -> PyResult<Self> {
        Ok(Scanned {
            text: PyString::new(py, "").unbind(),
            themes: PyFrozenSet::empty(py)?.unbind(),
            events: PyTuple::empty(py).unbind(),
            skip: PyFrozenSet::empty(py)?.unbind(),
            found: Found::default(),
            norm: String::new(),
            stops: Vec::new(),
        })
    }
}

fn overlaps(span: (u32, u32), stops: &[(u32, u32)]) -> bool {
    stops.iter().any(|&(a, b)| a < span.1 && span.0 < b)
}

/// Python's `_free`: the spans no stop phrase overlaps.
fn free(spans: &Spans, stops: &[(u32, u32)]) -> Spans {
    spans
        .iter()
        .copied()
        .filter(|&s| !overlaps(s, stops))
        .collect()
}

/// Python's `_longest`: one term per stretch of overlapping term matches, the heaviest, then
/// the longest (the first of equals); terms in order of their first stretch.
fn longest(
    terms: &[(u32, &Spans)],
    stops: &[(u32, u32)],
    weight: &dyn Fn(u32) -> f64,
) -> Vec<(u32, Spans)> {
    let mut spans: Vec<(u32, u32, u32)> = terms
        .iter()
        .flat_map(|(t, found)| found.iter().map(move |&(a, b)| (a, b, *t)))
        .collect();
    spans.sort_by_key(|&(a, b, _)| (a, std::cmp::Reverse(b))); // stable, as Python's sorted
    let mut groups: Vec<Vec<(u32, u32, u32)>> = Vec::new();
    let mut group_end: i64 = -1;
    for (a, b, t) in spans {
        if !stops.is_empty() && overlaps((a, b), stops) {
            continue;
        }
        if (a as i64) < group_end {
            groups.last_mut().expect("a group is open").push((a, b, t));
            group_end = group_end.max(b as i64);
        } else {
            groups.push(vec![(a, b, t)]);
            group_end = b as i64;
        }
    }
    let mut out: Vec<(u32, Spans)> = Vec::new();
    for group in groups {
        let mut best = group[0];
        for &cand in &group[1..] {
            let key = |s: (u32, u32, u32)| (weight(s.2), s.1 - s.0);
            let (kc, kb) = (key(cand), key(best));
            if kc.0 > kb.0 || (kc.0 == kb.0 && kc.1 > kb.1) {
                best = cand;
            }
        }
        match out.iter_mut().find(|(t, _)| *t == best.2) {
            Some((_, spans)) => spans.push((best.0, best.1)),
            None => out.push((best.2, vec![(best.0, best.1)])),
        }
    }
    out
}

/// The byte offset of every `MARK`-th character (and of the end), a small index from
/// character to byte offsets for long non-ASCII texts.
const MARK: usize = 64;

fn char_marks(text: &str) -> Vec<u32> {
    let mut marks: Vec<u32> = text
        .char_indices()
        .step_by(MARK)
        .map(|(i, _)| i as u32)
        .collect();
    marks.push(text.len() as u32);
    marks
}

/// The byte offset of character `at` (at most the text's length in characters).
fn byte_at(text: &str, marks: &[u32], at: u32) -> usize {
    let (mark, rest) = (at as usize / MARK, at as usize % MARK);
    let from = marks[mark] as usize;
    text[from..]
        .char_indices()
        .nth(rest)
        .map_or(text.len(), |(i, _)| from + i)
}

/// Python's `_near_pair`: the first pair of spans at most `within` words apart, as one span.
/// Gaps are measured in characters; `index` maps characters to bytes for non-ASCII text.
fn near_pair(
    text: &str,
    index: &mut Option<Vec<u32>>,
    left: &Spans,
    right: &Spans,
    within: f64,
) -> Option<(u32, u32)> {
    let reach = (within + 2.0) * 24.0;
    for &a in left {
        for &b in right {
            let (lo, hi) = if a.0 <= b.0 { (a, b) } else { (b, a) };
            if hi.0 < lo.1 || (hi.0 - lo.1) as f64 > reach {
                continue;
            }
            let gap = if text.is_ascii() {
                &text[lo.1 as usize..hi.0 as usize]
            } else {
                let index = index.get_or_insert_with(|| char_marks(text));
                &text[byte_at(text, index, lo.1)..byte_at(text, index, hi.0)]
            };
            let chars = gap.chars().count() as i64;
            let spaces = gap.bytes().filter(|&c| c == b' ').count() as i64;
            let words = spaces + (chars - 8 * (spaces + 1)).max(0) / 2;
            if (words as f64) <= within + 1.0 && !gap.contains("\n\n") {
                return Some((lo.0, hi.1));
            }
        }
    }
    None
}

/// Python's `langdetect.detect()`, compiled: script counts over the distinct characters of
/// the sample, then stopwords and letters for Latin script. Scores are summed as integers
/// (shares times a common denominator), so exact ties break alphabetically as in Python —
/// where Python's float sums, taken in set order, may differ in the last bit.
#[pyclass(frozen, module = "newswatch.agents.tagging._native")]
struct LangDetector {
    langs: Vec<Py<PyString>>, // sorted: index order is alphabetical order
    stopwords: FxHashMap<String, Vec<(usize, i64)>>,
    letters: Vec<(usize, Vec<char>)>, // in Python's order, each sorted
    letter_weight: i64,               // one letter hit (0.5) in denominator units
    lower: FxHashMap<char, String>,   // str.lower() of the BMP characters it changes
    space: Vec<char>,                 // the characters str.isspace() accepts, sorted
    ranges: Vec<(u32, Option<usize>)>, // script ranges: start, script (index into names)
    names: Vec<Py<PyString>>,         // script names; some are language codes ("el", "th")
    scripts: [Option<usize>; 3],      // han, kana, hangul: indexes into names
    // Python's REFINE: script -> (language, its own letters) in order, and the default.
    refine_scripts: Vec<ScriptRefine>,
    // Python's LATIN_REFINE: base, alt (indexes into langs), base's and alt's own words.
    refine_latin: Vec<(usize, usize, Vec<String>, Vec<String>)>,
    sample: usize,
    latin_sample: usize,
    codes: [Py<PyString>; 7], // en, und, ko, ja, zh, uk, ru
}

/// A script shared by languages: script, (language, its own letters) in order, default.
type ScriptRefine = (usize, Vec<(Py<PyString>, Vec<char>)>, Py<PyString>);
type ScriptRefineArgs = (usize, Vec<(Py<PyString>, String)>, Py<PyString>);

impl LangDetector {
    /// Python's `_latin(sample, letters)`.
    fn latin(&self, sample: &str, letters: bool) -> Result<usize, usize> {
        let mut low = String::with_capacity(sample.len());
        for ch in sample.chars() {
            match ch {
                '\'' | '\u{2019}' => low.push(' '),
                _ if ch.is_ascii() => low.push(ch.to_ascii_lowercase()),
                _ => match self.lower.get(&ch) {
                    Some(s) => low.push_str(s),
                    // Astral letters' lower case is never Latin or a space: left as they are.
                    None => low.push(ch),
                },
            }
        }
        let mut counts = [0i64; 32];
        let mut any = false;
        let mut seen: Vec<&str> = Vec::with_capacity(16);
        // ASCII white space as str.isspace() has it (with \x1c-\x1f), else the sorted set.
        let is_space = |c: char| match c {
            '\t'..='\r' | '\x1c'..=' ' => true,
            _ if c.is_ascii() => false,
            _ => self.space.binary_search(&c).is_ok(),
        };
        for word in low.split(is_space).filter(|w| !w.is_empty()) {
            if let Some(shares) = self.stopwords.get(word) {
                if !seen.contains(&word) {
                    seen.push(word);
                    for &(lang, share) in shares {
                        counts[lang] += share;
                        any = true;
                    }
                }
            }
        }
        if letters && !low.is_ascii() {
            // Hits per letter set in one pass over the non-ASCII characters.
            let mut hits = [0i64; 16];
            for ch in low.chars().filter(|c| !c.is_ascii()) {
                for (set, (_, letters)) in self.letters.iter().enumerate() {
                    if letters.binary_search(&ch).is_ok() {
                        hits[set] += 1;
                    }
                }
            }
            for (set, (lang, _)) in self.letters.iter().enumerate() {
                if hits[set] > 0 {
                    counts[*lang] += hits[set].min(6) * self.letter_weight;
                    any = true;
                }
            }
        }
        if !any {
            let en = low.is_ascii() && low.bytes().any(|b| b.is_ascii_alphabetic());
            return Err(if en { CODE_EN } else { CODE_UND });
        }
        // Python keeps only languages it counted; all counts are > 0 then, so the first
        // maximum in alphabetical order is the same.
        let mut best = 0;
        for (i, &c) in counts.iter().enumerate() {
            if c > counts[best] {
                best = i;
            }
        }
        for (base, alt, base_words, alt_words) in &self.refine_latin {
            if best == *base {
                let mut words: Vec<&str> = low.split(is_space).filter(|w| !w.is_empty()).collect();
                words.sort_unstable();
                words.dedup();
                let count = |own: &Vec<String>| {
                    words.iter().filter(|w| own.iter().any(|o| o == *w)).count()
                };
                if count(alt_words) > count(base_words) {
                    return Ok(*alt);
                }
            }
        }
        Ok(best)
    }

    fn answer(&self, py: Python<'_>, found: Result<usize, usize>) -> Py<PyString> {
        match found {
            Ok(lang) => self.langs[lang].clone_ref(py),
            Err(code) => self.codes[code].clone_ref(py),
        }
    }
}

/// `spec.LangSpec`, read by attribute name.
#[derive(FromPyObject)]
struct LangSpec {
    langs: Vec<Py<PyString>>,
    stopwords: Vec<(String, Vec<(usize, i64)>)>,
    letters: Vec<(usize, String)>,
    letter_weight: i64,
    lower: Vec<(char, String)>,
    space: String,
    ranges: Vec<(u32, Option<usize>)>,
    names: Vec<Py<PyString>>,
    refine_scripts: Vec<ScriptRefineArgs>,
    refine_latin: Vec<(usize, usize, Vec<String>, Vec<String>)>,
    sample: usize,
    latin_sample: usize,
    codes: [Py<PyString>; 7],
}

#[pymethods]
impl LangDetector {
    /// Built from `spec.LangSpec` (`fastpath.lang_spec`).
    #[new]
    fn new(py: Python<'_>, spec: LangSpec) -> PyResult<Self> {
        let LangSpec {
            langs,
            stopwords,
            letters,
            letter_weight,
            lower,
            space,
            ranges,
            names,
            refine_scripts,
            refine_latin,
            sample,
            latin_sample,
            codes,
        } = spec;
        if letters.len() > 16
            || langs.len() > 32
            || refine_latin
                .iter()
                .any(|r| r.0 >= langs.len() || r.1 >= langs.len())
            || refine_scripts.iter().any(|r| r.0 >= names.len())
            || ranges
                .iter()
                .any(|(_, s)| s.is_some_and(|s| s >= names.len()))
        {
            return Err(PyValueError::new_err("inconsistent language tables"));
        }
        let mut space: Vec<char> = space.chars().collect();
        space.sort_unstable();
        let find = |name: &str| {
            names
                .iter()
                .position(|n| n.bind(py).to_str().ok() == Some(name))
        };
        let scripts = [find("han"), find("kana"), find("hangul")];
        Ok(LangDetector {
            scripts,
            langs,
            stopwords: stopwords.into_iter().collect(),
            letters: letters
                .into_iter()
                .map(|(l, s)| {
                    let mut set: Vec<char> = s.chars().collect();
                    set.sort_unstable();
                    (l, set)
                })
                .collect(),
            letter_weight,
            lower: lower.into_iter().collect(),
            space,
            ranges,
            names,
            refine_scripts: refine_scripts
                .into_iter()
                .map(|(script, langs, default)| {
                    let langs = langs
                        .into_iter()
                        .map(|(lang, letters)| (lang, letters.chars().collect()))
                        .collect();
                    (script, langs, default)
                })
                .collect(),
            refine_latin,
            sample,
            latin_sample,
            codes,
        })
    }

    /// The language of `text` as Python's `langdetect.detect()` says it, or None for text
    /// with lone surrogates (Python decides).
    fn detect(&self, py: Python<'_>, text: &Bound<'_, PyString>) -> Option<Py<PyString>> {
        let text = text.to_str().ok()?;
        let end = text
            .char_indices()
            .nth(self.sample)
            .map_or(text.len(), |(i, _)| i);
        let sample = &text[..end];
        let latin = &sample[..sample
            .char_indices()
            .nth(self.latin_sample)
            .map_or(end, |(i, _)| i)];
        if sample.is_ascii() {
            return Some(self.answer(py, self.latin(latin, true)));
        }
        // The distinct non-ASCII characters, sorted (ASCII counts for no script).
        let mut codes: Vec<u32> = sample
            .chars()
            .map(|c| c as u32)
            .filter(|&c| c >= 0x80)
            .collect();
        codes.sort_unstable();
        codes.dedup();
        let first = codes.partition_point(|&c| c < 0x0370);
        if first == codes.len() || (codes[first] >= 0x2000 && codes[codes.len() - 1] < 0x2070) {
            // Latin and punctuation only: letters count when a non-ASCII one is a letter.
            let letters = codes[0] < 0x2000;
            return Some(self.answer(py, self.latin(latin, letters)));
        }
        // Distinct characters per script range, scripts in order of first appearance.
        let rest = &codes[first..];
        let mut counts: Vec<(usize, usize)> = Vec::new();
        for (index, &(start, script)) in self.ranges.iter().enumerate() {
            let lo = rest.partition_point(|&c| c < start);
            let hi = match self.ranges.get(index + 1) {
                Some(&(next, _)) => rest.partition_point(|&c| c < next),
                None => rest.len(),
            };
            if let (Some(script), true) = (script, hi > lo) {
                match counts.iter_mut().find(|(s, _)| *s == script) {
                    Some(entry) => entry.1 += hi - lo,
                    None => counts.push((script, hi - lo)),
                }
            }
        }
        if counts.is_empty() {
            return Some(self.answer(py, self.latin(latin, true)));
        }
        let count = |script: Option<usize>| {
            script
                .and_then(|s| counts.iter().find(|(x, _)| *x == s))
                .map_or(0, |e| e.1)
        };
        let [han_at, kana_at, hangul_at] = self.scripts;
        let (han, kana, hangul) = (count(han_at), count(kana_at), count(hangul_at));
        let cjk = if han + kana + hangul >= 4 {
            sample.chars().filter(|&c| c as u32 >= 0x3040).count()
        } else {
            0
        };
        let nchars = sample.chars().count();
        // Python's `other`: the most distinct characters of a script that is not CJK.
        let other = counts
            .iter()
            .filter(|(s, _)| ![han_at, kana_at, hangul_at].contains(&Some(*s)))
            .map(|e| e.1)
            .max()
            .unwrap_or(0);
        let few = han + kana + hangul > other && self.latin(latin, true) == Err(CODE_UND);
        if cjk * 6 >= nchars || few {
            let code = if 2 * hangul >= han.max(kana) {
                CODE_KO
            } else if kana >= 3 || (kana > 0 && han == 0) {
                CODE_JA
            } else {
                CODE_ZH
            };
            return Some(self.codes[code].clone_ref(py));
        }
        let mut best = counts[0];
        for &entry in &counts[1..] {
            if entry.1 > best.1 {
                best = entry;
            }
        }
        let cjk_script = [han_at, kana_at, hangul_at].contains(&Some(best.0));
        if best.1 >= 6 && !cjk_script {
            if let Some((_, langs, default)) = self.refine_scripts.iter().find(|r| r.0 == best.0) {
                for (lang, letters) in langs {
                    if sample.chars().any(|c| letters.contains(&c)) {
                        return Some(lang.clone_ref(py));
                    }
                }
                return Some(default.clone_ref(py));
            }
            return Some(self.names[best.0].clone_ref(py));
        }
        Some(self.answer(py, self.latin(latin, true)))
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Engine>()?;
    m.add_class::<LangDetector>()?;
    m.add_class::<Scanned>()?;
    shingles::register(m)?;
    m.add_class::<anchors::Anchors>()?;
    Ok(())
}
