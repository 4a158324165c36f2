// swift-tools-version: 6.1
import PackageDescription

/// StreamingChat: a peer-to-peer CRDT sync engine for real-time chat.
/// Pure modules at the bottom (ChatCore), I/O at the edges (CLI, store, node).
let package = Package(
    name: "StreamingChat",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "ChatCore", targets: ["ChatCore"]),
        .library(name: "ChatWire", targets: ["ChatWire"]),
        .library(name: "ChatCrypto", targets: ["ChatCrypto"]),
        .library(name: "ChatStore", targets: ["ChatStore"]),
        .library(name: "ChatSync", targets: ["ChatSync"]),
        .library(name: "ChatControl", targets: ["ChatControl"]),
        .library(name: "ChatNode", targets: ["ChatNode"]),
        .library(name: "ChatFuzzing", targets: ["ChatFuzzing"]),
        .executable(name: "streamingchat", targets: ["StreamingChatCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/adam-fowler/compress-nio", from: "1.5.0"),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // C libraries from the system (apt: libsodium-dev, liblmdb-dev, zlib1g-dev).
        .systemLibrary(
            name: "CSodium", pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"]), .brew(["libsodium"])]),
        .systemLibrary(
            name: "CLMDB", pkgConfig: "lmdb",
            providers: [.apt(["liblmdb-dev"]), .brew(["lmdb"])]),
        .systemLibrary(
            name: "CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]),

        // Pure core: ids, vector clocks, the sequence CRDT. No I/O, no Foundation; zlib's
        // deflate compresses the text of sequence states.
        .target(
            name: "ChatCore",
            dependencies: ["CZlib"],
            swiftSettings: [.define("CHAT_INTERNAL_CHECKS", .when(configuration: .debug))]),

        // libsodium: hashes now; keys, signatures and frame encryption next.
        .target(name: "ChatCrypto", dependencies: ["CSodium", "ChatCore"]),

        // Pure: the versioned binary wire format (ops, signed batches, frames, invite tokens).
        .target(name: "ChatWire", dependencies: ["ChatCore"]),

        // LMDB: the per-conversation op log of signed batches, heads, snapshots, evidence.
        .target(name: "ChatStore", dependencies: ["CLMDB", "ChatCore"]),

        // Pure (sans-I/O) replication logic: batching, verification, later sessions and gossip.
        .target(name: "ChatSync", dependencies: ["ChatCore", "ChatWire", "ChatCrypto"]),

        // The control API of a running node, shared by the daemon's socket, the CLI and the HTTP API:
        // typed commands and results (the `--json` contract), the request/response framing, and
        // the Unix-socket server and client.
        .target(
            name: "ChatControl",
            dependencies: [
                "ChatCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]),

        // The runtime: conversations on a node (store, verification, ingest), later TCP and discovery.
        .target(
            name: "ChatNode",
            dependencies: [
                "ChatCore", "ChatWire", "ChatCrypto", "ChatStore", "ChatSync", "ChatControl",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
            ]),

        // Tools outside the runtime: the ingest, sync and cluster benchmarks, the live demo and the
        // store check, built on ChatNode's public API.
        .target(name: "ChatTools", dependencies: ["ChatCore", "ChatWire", "ChatCrypto", "ChatStore", "ChatSync", "ChatControl", "ChatNode"]),

        // The node's HTTP API and browser UI (Hummingbird): the control commands over HTTP on loopback,
        // behind an access secret, and the static page that drives them.
        .target(
            name: "ChatHTTP",
            dependencies: [
                "ChatCore", "ChatControl", "ChatNode", "ChatCrypto",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            resources: [.copy("Web")]),

        // The fuzz dispatch shared by the libFuzzer harness (Fuzz/) and the tests replaying its finds.
        .target(name: "ChatFuzzing", dependencies: ["ChatCore", "ChatWire", "ChatCrypto", "ChatSync"]),

        // Real editing traces: parsing (JSON, gzip) and replay onto ChatCore, the correctness oracle.
        .target(
            name: "ChatTraces",
            dependencies: [
                "ChatCore", "ChatCrypto",
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]),

        // The `streamingchat` command.
        .executableTarget(
            name: "StreamingChatCLI",
            dependencies: [
                "ChatCore", "ChatTraces", "ChatControl", "ChatNode", "ChatTools", "ChatStore", "ChatSync", "ChatWire", "ChatCrypto", "ChatHTTP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        .testTarget(name: "ChatCoreTests", dependencies: ["ChatCore"]),
        .testTarget(name: "ChatCryptoTests", dependencies: ["ChatCrypto", "ChatCore"]),
        .testTarget(name: "ChatWireTests", dependencies: ["ChatWire", "ChatCore", "ChatCrypto", "ChatSync", "ChatFuzzing"]),
        .testTarget(name: "ChatStoreTests", dependencies: ["ChatStore", "ChatCore"]),
        .testTarget(name: "ChatControlTests", dependencies: ["ChatControl", "ChatCore"]),
        .testTarget(name: "ChatNodeTests", dependencies: ["ChatControl", "ChatNode", "ChatTools", "ChatStore", "ChatSync", "ChatWire", "ChatCrypto", "ChatCore"]),
        .testTarget(name: "ChatSyncTests", dependencies: ["ChatSync", "ChatWire", "ChatCrypto", "ChatCore"]),
        .testTarget(name: "ChatTracesTests", dependencies: ["ChatTraces", "ChatCore"]),
        .testTarget(name: "SystemLibraryTests", dependencies: ["CSodium", "CLMDB"]),
        .testTarget(name: "CLITests", dependencies: ["StreamingChatCLI", "ChatControl"]),

        .executableTarget(
            name: "SequenceBenchmarks",
            dependencies: [
                "ChatCore", "ChatTraces",
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/SequenceBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]),
    ],
    swiftLanguageModes: [.v6]
)
