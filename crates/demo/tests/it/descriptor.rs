//! The embedded `FileDescriptorSet` describes the Echo API.

use yardmaster_demo::FILE_DESCRIPTOR_SET;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[test]
fn file_descriptor_set_describes_echo_proto() {
    assert!(contains(
        FILE_DESCRIPTOR_SET,
        b"yardmaster/demo/v1/echo.proto"
    ));
    assert!(contains(FILE_DESCRIPTOR_SET, b"yardmaster.demo.v1"));
    assert!(contains(FILE_DESCRIPTOR_SET, b"ServerStream"));
}
