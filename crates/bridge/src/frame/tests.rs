use super::*;

fn decode_all(codec: Codec, input: &[u8]) -> (Vec<Bytes>, Result<(), FrameError>) {
    let mut buffer = BytesMut::from(input);
    let mut frames = Vec::new();
    loop {
        match codec.decode(&mut buffer) {
            Ok(Some(frame)) => frames.push(frame),
            Ok(None) => return (frames, codec.finish(&buffer)),
            Err(error) => return (frames, Err(error)),
        }
    }
}

#[test]
fn lines_are_split_at_newlines_without_the_newline() {
    let codec = Codec::new(Framing::Lines, 16);
    let (frames, end) = decode_all(codec, b"hello\n\nworld\r\n");
    assert_eq!(frames, [&b"hello"[..], b"", b"world\r"]);
    assert_eq!(end, Ok(()));
}

#[test]
fn a_partial_line_waits_for_more_bytes() {
    let codec = Codec::new(Framing::Lines, 16);
    let mut buffer = BytesMut::from(&b"hel"[..]);
    assert_eq!(codec.decode(&mut buffer), Ok(None));
    buffer.extend_from_slice(b"lo\n");
    assert_eq!(
        codec.decode(&mut buffer),
        Ok(Some(Bytes::from_static(b"hello")))
    );
    assert!(buffer.is_empty());
}

#[test]
fn an_overlong_line_is_refused_before_its_newline_arrives() {
    let codec = Codec::new(Framing::Lines, 4);
    let (frames, end) = decode_all(codec, b"abcd\nabcde");
    assert_eq!(frames, [&b"abcd"[..]]);
    assert_eq!(end, Err(FrameError::TooLarge { len: 5, max: 4 }));
}

#[test]
fn length_prefixed_frames_round_trip() {
    let codec = Codec::new(Framing::LengthPrefixed, 1024);
    let mut wire = BytesMut::new();
    for payload in [&b"one"[..], b"", &[0u8, 10, 255][..]] {
        codec.encode(payload, &mut wire).unwrap();
    }
    let (frames, end) = decode_all(codec, &wire);
    assert_eq!(frames, [&b"one"[..], b"", &[0u8, 10, 255][..]]);
    assert_eq!(end, Ok(()));
}

#[test]
fn a_garbage_length_prefix_is_refused_without_buffering_it() {
    let codec = Codec::new(Framing::LengthPrefixed, 1024);
    let mut buffer = BytesMut::from(&b"GET / HTTP/1.1\r\n"[..]);
    let error = codec.decode(&mut buffer).unwrap_err();
    assert_eq!(
        error,
        FrameError::TooLarge {
            len: 0x4745_5420,
            max: 1024
        }
    );
    assert_eq!(error.label(), "frame_too_large");
}

#[test]
fn a_frame_cut_short_by_end_of_input_is_truncated() {
    let codec = Codec::new(Framing::LengthPrefixed, 1024);
    let (frames, end) = decode_all(codec, &[0, 0, 0, 5, b'a', b'b']);
    assert!(frames.is_empty());
    assert_eq!(end, Err(FrameError::Truncated { buffered: 6 }));
    let lines = Codec::new(Framing::Lines, 1024);
    assert_eq!(
        decode_all(lines, b"no newline").1,
        Err(FrameError::Truncated { buffered: 10 })
    );
}

#[test]
fn raw_frames_are_what_arrived_cut_at_the_limit() {
    let codec = Codec::new(Framing::Raw, 4);
    let (frames, end) = decode_all(codec, b"abcdefghij");
    assert_eq!(frames, [&b"abcd"[..], b"efgh", b"ij"]);
    assert_eq!(end, Ok(()));
}

#[test]
fn encoding_adds_the_framing() {
    let mut out = BytesMut::new();
    Codec::new(Framing::Lines, 8)
        .encode(b"hi", &mut out)
        .unwrap();
    Codec::new(Framing::LengthPrefixed, 8)
        .encode(b"hi", &mut out)
        .unwrap();
    Codec::new(Framing::Raw, 8).encode(b"hi", &mut out).unwrap();
    assert_eq!(&out[..], b"hi\n\0\0\0\x02hihi");
}
