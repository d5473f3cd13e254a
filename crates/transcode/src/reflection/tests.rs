use prost::Message as _;
use prost_reflect::prost_types::FileDescriptorProto;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::{
    ErrorResponse, FileDescriptorResponse, ListServiceResponse, ServerReflectionRequest,
    ServerReflectionResponse, ServiceResponse,
};

use super::{file_by_filename, file_containing_symbol, list_services, Reflected};

/// `testdata/shop.proto` as a server's reflection sends it: the file alone, its
/// well-known imports left to the client.
fn shop_file() -> FileDescriptorProto {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");
    let mut compiler = protox::Compiler::new([dir]).unwrap();
    compiler.open_file("shop.proto").unwrap();
    compiler.file_descriptor_set().file.remove(0)
}

fn reply(message: MessageResponse) -> Vec<u8> {
    ServerReflectionResponse {
        message_response: Some(message),
        ..ServerReflectionResponse::default()
    }
    .encode_to_vec()
}

#[test]
fn requests_are_reflection_requests() {
    let decoded = |bytes: Vec<u8>| {
        ServerReflectionRequest::decode(bytes.as_slice())
            .unwrap()
            .message_request
    };
    assert_eq!(
        decoded(list_services()),
        Some(MessageRequest::ListServices(String::new()))
    );
    assert_eq!(
        decoded(file_containing_symbol("a.B")),
        Some(MessageRequest::FileContainingSymbol("a.B".into()))
    );
    assert_eq!(
        decoded(file_by_filename("a.proto")),
        Some(MessageRequest::FileByFilename("a.proto".into()))
    );
}

#[test]
fn replies_become_a_pool_with_the_well_known_types_filled_in() {
    let mut reflected = Reflected::default();
    let services = [
        "test.shop.v1.Shop",
        "grpc.reflection.v1.ServerReflection",
        "grpc.health.v1.Health",
    ]
    .map(|name| ServiceResponse { name: name.into() })
    .to_vec();
    reflected
        .take_reply(&reply(MessageResponse::ListServicesResponse(
            ListServiceResponse { service: services },
        )))
        .unwrap();
    assert_eq!(reflected.services(), ["test.shop.v1.Shop"]);
    reflected
        .take_reply(&reply(MessageResponse::FileDescriptorResponse(
            FileDescriptorResponse {
                file_descriptor_proto: vec![shop_file().encode_to_vec()],
            },
        )))
        .unwrap();
    assert!(reflected.missing_imports().is_empty());
    let pool = reflected.into_pool().unwrap();
    let service = pool.get_service_by_name("test.shop.v1.Shop").unwrap();
    assert_eq!(service.methods().count(), 3);
    assert!(pool
        .get_message_by_name("google.protobuf.Timestamp")
        .is_some());
}

#[test]
fn missing_imports_are_listed_and_errors_name_the_request() {
    let mut file = shop_file();
    file.dependency.push("vendor/extra.proto".into());
    let mut reflected = Reflected::default();
    reflected
        .take_reply(&reply(MessageResponse::FileDescriptorResponse(
            FileDescriptorResponse {
                file_descriptor_proto: vec![file.encode_to_vec()],
            },
        )))
        .unwrap();
    assert_eq!(reflected.missing_imports(), ["vendor/extra.proto"]);

    let error = ServerReflectionResponse {
        original_request: Some(ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileByFilename("vendor/extra.proto".into())),
        }),
        message_response: Some(MessageResponse::ErrorResponse(ErrorResponse {
            error_code: 5,
            error_message: "not found".into(),
        })),
        ..ServerReflectionResponse::default()
    };
    let message = reflected.take_reply(&error.encode_to_vec()).unwrap_err();
    assert_eq!(
        message,
        "the server's reflection has no file \"vendor/extra.proto\": not found (code 5)"
    );
    assert!(reflected
        .take_reply(b"\xff\xff")
        .unwrap_err()
        .contains("does not decode"));
}

#[test]
fn annotations_in_reflected_files_bind_methods() {
    // Every file of an annotated service, as a server sends them: its imports included,
    // each encoded with its options (prost's FileDescriptorProto would drop the extension
    // options, so the files are taken from the pool's own encoding).
    #[derive(Clone, PartialEq, prost::Message)]
    struct EncodedSet {
        #[prost(bytes = "vec", repeated, tag = "1")]
        file: Vec<Vec<u8>>,
    }
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");
    let google = concat!(env!("CARGO_MANIFEST_DIR"), "/../../proto");
    let mut compiler = protox::Compiler::new([dir, google]).unwrap();
    compiler.include_imports(true);
    compiler.open_file("library.proto").unwrap();
    let encoded = compiler.descriptor_pool().encode_to_vec();
    let set = EncodedSet::decode(encoded.as_slice()).unwrap();
    let mut reflected = Reflected::default();
    let files = FileDescriptorResponse {
        file_descriptor_proto: set.file,
    };
    reflected
        .take_reply(&reply(MessageResponse::FileDescriptorResponse(files)))
        .unwrap();
    let api = crate::HttpApi::new(reflected.into_pool().unwrap(), &[], true).unwrap();
    let get = api
        .find(&http::Method::GET, "/v1/shelves/1/books/2")
        .unwrap();
    assert!(get.binding.method().path().ends_with("/GetBook"));
}
