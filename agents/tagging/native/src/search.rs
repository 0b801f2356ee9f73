//! The leftmost-longest search of `AhoCorasick::find_iter`, over the crate's DFA, with long
//! texts walked as two streams in lock step.
//!
//! The DFA walk is bound by the latency of one table load per byte, each depending on the
//! last; two independent walks in one loop overlap those loads (the bare DFA pass measured
//! ~1.5x faster on the bench corpus). The second stream starts a fresh search at the middle
//! `mid` of the text. Its matches are the true ones from the first position `p >= mid` where
//! the first stream starts a search (the text start or a match end) that is not strictly
//! inside one of the second stream's matches: a search from `p` and the second stream's
//! search in progress at `p` find the same leftmost match, the longest at its start, and
//! from there on both run identically. The first stream goes on past `mid` until it reaches
//! such a `p` (usually at its first match there), so the result is exactly the matches of
//! one search from the start, in order.

use aho_corasick::automaton::Automaton;
use aho_corasick::automaton::StateID;
use aho_corasick::dfa::DFA;
use aho_corasick::Anchored;

/// A match: (pattern, start byte, end byte).
pub type Hit = (u32, usize, usize);

/// Texts shorter than this are walked as one stream.
const TWO_STREAMS: usize = 2048;

/// One leftmost-longest search stream over `hay[..]`, advanced a byte at a time.
struct Stream<'h> {
    hay: &'h [u8],
    start: StateID,
    sid: StateID,
    at: usize,
    restart: usize, // where the search in progress began
    fresh: bool,    // no byte read since `restart`
    best: Option<Hit>,
    done: bool,
    hits: Vec<Hit>,
}

impl<'h> Stream<'h> {
    fn new(dfa: &DFA, hay: &'h [u8], from: usize) -> Self {
        let start = dfa
            .start_state(Anchored::No)
            .expect("unanchored searches are supported");
        Stream {
            hay,
            start,
            sid: start,
            at: from,
            restart: from,
            fresh: true,
            best: None,
            done: from >= hay.len(),
            hits: Vec::new(),
        }
    }

    /// The search in progress ends: report its match and search again from the match's end
    /// (as `find_iter` does), or stop when it found none.
    #[inline]
    fn finish(&mut self) {
        match self.best.take() {
            Some(hit) => {
                self.hits.push(hit);
                self.at = hit.2;
                self.restart = hit.2;
                self.sid = self.start;
                self.fresh = true;
            }
            None => self.done = true,
        }
    }

    /// Read one byte (the loop of `aho_corasick::automaton::try_find_fwd`, unanchored, no
    /// prefilter, leftmost semantics).
    #[inline(always)]
    fn step(&mut self, dfa: &DFA) {
        if self.at >= self.hay.len() {
            self.finish();
            return;
        }
        self.sid = dfa.next_state(Anchored::No, self.sid, self.hay[self.at]);
        self.at += 1;
        self.fresh = false;
        self.special(dfa);
    }

    /// `step` until the search meets a dead or match state or the end of the text, with the
    /// state in a register.
    #[inline(always)]
    fn walk(&mut self, dfa: &DFA) {
        let (mut sid, mut at) = (self.sid, self.at);
        while at < self.hay.len() {
            sid = dfa.next_state(Anchored::No, sid, self.hay[at]);
            at += 1;
            if dfa.is_special(sid) {
                break;
            }
        }
        if at == self.at {
            self.step(dfa); // at the end of the text
        } else {
            (self.sid, self.at, self.fresh) = (sid, at, false);
            self.special(dfa);
        }
    }

    /// What `step` does after moving to a state: end the search at a dead state, note a
    /// match at a match state.
    #[inline(always)]
    fn special(&mut self, dfa: &DFA) {
        if dfa.is_special(self.sid) {
            if dfa.is_dead(self.sid) {
                self.finish();
            } else if dfa.is_match(self.sid) {
                let pattern = dfa.match_pattern(self.sid, 0);
                let len = dfa.pattern_len(pattern);
                self.best = Some((pattern.as_u32(), self.at - len, self.at));
            }
        }
    }
}

/// Whether `pos` lies strictly inside one of `hits` (sorted, not overlapping).
fn inside(hits: &[Hit], pos: usize) -> bool {
    let i = hits.partition_point(|h| h.1 < pos);
    i > 0 && pos < hits[i - 1].2
}

/// Every match of a leftmost-longest search of `hay` from its start, in order (the same as
/// `AhoCorasick::find_iter` with this DFA's patterns, none of them empty).
pub fn find_all(dfa: &DFA, hay: &[u8]) -> Vec<Hit> {
    let mut first = Stream::new(dfa, hay, 0);
    if hay.len() < TWO_STREAMS {
        while !first.done {
            first.walk(dfa);
        }
        return first.hits;
    }
    let mid = hay.len() / 2;
    let mut second = Stream::new(dfa, hay, mid);
    let end = hay.len();
    while !first.done && !second.done && first.at < mid {
        // Both streams in registers until either meets a dead or match state or a bound.
        let (mut a, mut at_a, mut b, mut at_b) = (first.sid, first.at, second.sid, second.at);
        let mut moved = false;
        while at_a < mid && at_b < end {
            a = dfa.next_state(Anchored::No, a, hay[at_a]);
            b = dfa.next_state(Anchored::No, b, hay[at_b]);
            at_a += 1;
            at_b += 1;
            moved = true;
            if dfa.is_special(a) || dfa.is_special(b) {
                break;
            }
        }
        if moved {
            (first.sid, first.at, first.fresh) = (a, at_a, false);
            (second.sid, second.at, second.fresh) = (b, at_b, false);
            first.special(dfa);
            second.special(dfa);
        } else {
            first.step(dfa); // at a bound: `step` ends the search at the end of the text
            second.step(dfa);
        }
    }
    while !second.done {
        second.walk(dfa);
    }
    loop {
        if first.done {
            return first.hits; // it searched the whole text
        }
        if first.fresh && first.restart >= mid && !inside(&second.hits, first.restart) {
            let from = first.restart;
            let mut hits = first.hits;
            hits.extend(second.hits.into_iter().filter(|h| h.1 >= from));
            return hits;
        }
        first.walk(dfa);
    }
}
