//! G.711 (ITU-T, 1988): the two 8-bit logarithmic telephone codecs, µ-law (PCMU, RTP payload
//! type 0, North America and Japan) and A-law (PCMA, payload type 8, the rest of the world).
//!
//! Both compress a 16-bit linear sample into 8 bits: a sign, a 3-bit segment (a power of two)
//! and a 4-bit position inside the segment, so the step grows with the level and the error stays
//! a roughly constant fraction of it. The code follows the reference algorithm of the
//! recommendation (as in Sun's public-domain `g711.c`): µ-law works on the top 14 bits with a
//! bias of 33 and is sent inverted; A-law works on the top 13 bits and every other bit is
//! inverted (`0x55`). Decoding is a table of 256 values built at compile time.

/// A G.711 variant, named as in SDP (`PCMU/8000`, `PCMA/8000`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// µ-law, RTP payload type 0.
    Pcmu,
    /// A-law, RTP payload type 8.
    Pcma,
}

impl Codec {
    /// The static RTP payload type (RFC 3551): 0 for PCMU, 8 for PCMA.
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The codec of a static RTP payload type; `None` for any other than 0 and 8.
    pub fn from_payload_type(payload_type: u8) -> Option<Codec> {
        match payload_type {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
    }

    /// Appends the linear samples of `bytes` (one sample a byte) to `out`.
    pub fn decode(self, bytes: &[u8], out: &mut Vec<i16>) {
        let table = match self {
            Codec::Pcmu => &ULAW_TO_LINEAR,
            Codec::Pcma => &ALAW_TO_LINEAR,
        };
        out.extend(bytes.iter().map(|&byte| table[usize::from(byte)]));
    }

    /// Appends the encoding of `samples` (one byte a sample) to `out`.
    pub fn encode(self, samples: &[i16], out: &mut Vec<u8>) {
        match self {
            Codec::Pcmu => out.extend(samples.iter().map(|&s| linear_to_ulaw(s))),
            Codec::Pcma => out.extend(samples.iter().map(|&s| linear_to_alaw(s))),
        }
    }
}

/// The segment of a magnitude: the first of `ends` it does not exceed, 8 past the last.
fn segment(magnitude: i32, ends: &[i32; 8]) -> i32 {
    let mut segment = 0;
    for &end in ends {
        if magnitude <= end {
            return segment;
        }
        segment += 1;
    }
    segment
}

/// µ-law's bias, added so that every segment starts at a power of two.
const ULAW_BIAS: i32 = 0x84;
/// µ-law's largest magnitude on its 14-bit scale, before the bias.
const ULAW_CLIP: i32 = 8159;
const ULAW_SEGMENT_ENDS: [i32; 8] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF];
const ALAW_SEGMENT_ENDS: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];

fn linear_to_ulaw(sample: i16) -> u8 {
    let mut value = i32::from(sample) >> 2;
    let mask = if value < 0 {
        value = -value;
        0x7F
    } else {
        0xFF
    };
    let value = value.min(ULAW_CLIP) + (ULAW_BIAS >> 2);
    let seg = segment(value, &ULAW_SEGMENT_ENDS);
    let code = if seg >= 8 {
        0x7F
    } else {
        (seg << 4) | ((value >> (seg + 1)) & 0x0F)
    };
    // Both operands are below 0x100.
    (code ^ mask) as u8
}

fn linear_to_alaw(sample: i16) -> u8 {
    let value = i32::from(sample) >> 3;
    let (mask, value) = if value >= 0 {
        (0xD5, value)
    } else {
        (0x55, -value - 1)
    };
    let seg = segment(value, &ALAW_SEGMENT_ENDS);
    let code = if seg >= 8 {
        0x7F
    } else if seg < 2 {
        (seg << 4) | ((value >> 1) & 0x0F)
    } else {
        (seg << 4) | ((value >> seg) & 0x0F)
    };
    (code ^ mask) as u8
}

const fn ulaw_to_linear(code: u8) -> i16 {
    let code = !code as i32;
    let magnitude = (((code & 0x0F) << 3) + ULAW_BIAS) << ((code & 0x70) >> 4);
    // At most 0x7F84 - 0x84: always within i16.
    if code & 0x80 != 0 {
        (ULAW_BIAS - magnitude) as i16
    } else {
        (magnitude - ULAW_BIAS) as i16
    }
}

const fn alaw_to_linear(code: u8) -> i16 {
    let code = (code ^ 0x55) as i32;
    let mut magnitude = (code & 0x0F) << 4;
    let seg = (code & 0x70) >> 4;
    magnitude = match seg {
        0 => magnitude + 8,
        1 => magnitude + 0x108,
        _ => (magnitude + 0x108) << (seg - 1),
    };
    // At most 0x7E00: always within i16.
    if code & 0x80 != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

/// Every code's linear value (a `const fn` cannot call through a function pointer, hence the
/// codec as an argument).
const fn table(codec: Codec) -> [i16; 256] {
    let mut table = [0; 256];
    let mut code = 0;
    while code < 256 {
        table[code] = match codec {
            Codec::Pcmu => ulaw_to_linear(code as u8),
            Codec::Pcma => alaw_to_linear(code as u8),
        };
        code += 1;
    }
    table
}

static ULAW_TO_LINEAR: [i16; 256] = table(Codec::Pcmu);
static ALAW_TO_LINEAR: [i16; 256] = table(Codec::Pcma);

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(codec: Codec, sample: i16) -> i16 {
        let mut bytes = Vec::new();
        codec.encode(&[sample], &mut bytes);
        let mut samples = Vec::new();
        codec.decode(&bytes, &mut samples);
        samples[0]
    }

    #[test]
    fn payload_types_are_those_of_rfc_3551() {
        assert_eq!(Codec::Pcmu.payload_type(), 0);
        assert_eq!(Codec::Pcma.payload_type(), 8);
        assert_eq!(Codec::from_payload_type(0), Some(Codec::Pcmu));
        assert_eq!(Codec::from_payload_type(8), Some(Codec::Pcma));
        assert_eq!(Codec::from_payload_type(18), None);
    }

    #[test]
    fn known_codes_decode_to_the_reference_values() {
        let mut out = Vec::new();
        Codec::Pcmu.decode(&[0xFF, 0x7F, 0x80, 0x00], &mut out);
        assert_eq!(out, [0, 0, 32124, -32124]);
        out.clear();
        Codec::Pcma.decode(&[0xD5, 0x55, 0xAA, 0x2A], &mut out);
        assert_eq!(out, [8, -8, 32256, -32256]);
    }

    #[test]
    fn known_values_encode_to_the_reference_codes() {
        let mut out = Vec::new();
        // µ-law takes the top 14 bits rounding down, so -1 is -1 there and encodes as -8.
        Codec::Pcmu.encode(&[0, -1, 8, i16::MAX, i16::MIN], &mut out);
        assert_eq!(out, [0xFF, 0x7E, 0xFE, 0x80, 0x00]);
        out.clear();
        Codec::Pcma.encode(&[0, -1, i16::MAX, i16::MIN], &mut out);
        assert_eq!(out, [0xD5, 0x55, 0xAA, 0x2A]);
    }

    #[test]
    fn every_code_decodes_and_encodes_back_to_itself() {
        for codec in [Codec::Pcmu, Codec::Pcma] {
            for code in 0..=255u8 {
                let mut linear = Vec::new();
                codec.decode(&[code], &mut linear);
                let mut again = Vec::new();
                codec.encode(&linear, &mut again);
                // µ-law has two codes for zero (0x7F and 0xFF); zero encodes as 0xFF.
                let expected = if codec == Codec::Pcmu && code == 0x7F {
                    0xFF
                } else {
                    code
                };
                assert_eq!(
                    again,
                    [expected],
                    "{codec:?} code {code:#04x} -> {}",
                    linear[0]
                );
            }
        }
    }

    #[test]
    fn the_round_trip_error_stays_within_half_a_step_of_the_segment() {
        for codec in [Codec::Pcmu, Codec::Pcma] {
            for sample in (i16::MIN..=i16::MAX).step_by(7) {
                let back = round_trip(codec, sample);
                let magnitude = i32::from(sample).abs();
                let error = (i32::from(back) - i32::from(sample)).abs();
                // A segment's step is 1/16 of its span: the error is at most 1/32 of the
                // magnitude plus the smallest segment's step (and the clip at the top).
                let bound = match codec {
                    Codec::Pcmu => magnitude / 32 + 8 + (magnitude - 32124).max(0),
                    Codec::Pcma => magnitude / 32 + 16 + (magnitude - 32256).max(0),
                };
                assert!(
                    error <= bound,
                    "{codec:?}: {sample} -> {back}, error {error}"
                );
                assert!(back == 0 || (back < 0) == (sample < 0) || magnitude < 16);
            }
        }
    }

    #[test]
    fn decoding_appends_to_what_is_there() {
        let mut out = vec![7];
        Codec::Pcmu.decode(&[0xFF], &mut out);
        assert_eq!(out, [7, 0]);
    }
}
