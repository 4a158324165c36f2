// swift-tools-version: 6.1
import PackageDescription

/// libFuzzer harnesses for StreamingChat's untrusted-input decoders. A separate package so the
/// root package's `swift build` / `swift test` never see it; build with `Fuzz/build.sh` and run
/// with `Fuzz/run.sh` (they pass `-sanitize=fuzzer,address` to every module, ChatCore included).
let package = Package(
    name: "StreamingChatFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "StreamingChat", path: ".."),
    ],
    targets: [
        // One harness; the first input byte chooses the decoder (see `FuzzTarget`).
        .executableTarget(
            name: "WireFuzzer",
            dependencies: [
                .product(name: "ChatCore", package: "StreamingChat"),
                .product(name: "ChatWire", package: "StreamingChat"),
                .product(name: "ChatCrypto", package: "StreamingChat"),
                .product(name: "ChatSync", package: "StreamingChat"),
                .product(name: "ChatFuzzing", package: "StreamingChat"),
            ],
            // libFuzzer supplies `main`.
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]),
    ],
    swiftLanguageModes: [.v6]
)
