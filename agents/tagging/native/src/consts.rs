// Generated from agents/tagging/spec.py by `python -m newswatch.agents.tagging.spec`;
// do not edit (tests/unit/agents/tagging/test_native_spec.py fails when the two differ).

// Payload kinds (spec.Kind).
pub const ALIAS: u8 = 0;
pub const AMBIG: u8 = 1;
pub const STOP: u8 = 2;
pub const SUPPORT: u8 = 3;
pub const BLOCK: u8 = 4;
pub const GENERIC: u8 = 5;
pub const TERM: u8 = 6;
pub const NEAR: u8 = 7;
pub const REQ: u8 = 8;
pub const TSTOP: u8 = 9;
pub const PHRASE: u8 = 10;

// A plan's needs_right (spec.RightRule).
pub const RIGHT_PER_PAYLOAD: u8 = 0;
pub const RIGHT_RULED_OUT: u8 = 1;
pub const RIGHT_ALIAS_TAIL: u8 = 2;

// Character table entries: the mapped code point in the low 21 bits, flags above.
pub const MAPPED_MASK: u32 = 0x1FFFFF;
pub const MAPPABLE: u32 = 1 << 21;
pub const WORD: u32 = 1 << 22;
pub const DIGIT: u32 = 1 << 23;

// spec.TAIL_STARTS: its ASCII characters, and the others as code points.
pub const TAIL_ASCII: &[u8] = b"0123456789vrkmtxzsabehilnouy";
pub const TAIL_WIDE: [u32; 8] = [0xE1, 0xE4, 0xE9, 0xF3, 0xF6, 0x151, 0x16F, 0x119];

// spec.REPEAT: a term's weight factor for 1, 2, 3+ matches.
pub const REPEAT: [f64; 4] = [0.0, 1.0, 1.5, 2.0];

// spec.CODES: indexes into LangSpec.codes.
pub const CODE_EN: usize = 0;
pub const CODE_UND: usize = 1;
pub const CODE_KO: usize = 2;
pub const CODE_JA: usize = 3;
pub const CODE_ZH: usize = 4;
pub const CODE_UK: usize = 5;
pub const CODE_RU: usize = 6;
