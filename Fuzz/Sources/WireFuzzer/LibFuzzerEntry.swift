import ChatFuzzing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The selector bytes `WIREFUZZER_TARGETS` names (comma-separated decimal, for example `3` for
/// sequence states alone); nil when it is unset: every target is fuzzed.
nonisolated(unsafe) private var onlyTargets: Set<UInt8>? = {
    guard let raw = getenv("WIREFUZZER_TARGETS") else { return nil }
    return Set(String(cString: raw).split(separator: ",").compactMap { UInt8($0) })
}()

/// libFuzzer's per-input entry point.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size > 0 else { return 0 }
    // Inputs for other targets are rejected (-1: libFuzzer keeps none of them in its corpus).
    if let onlyTargets, !onlyTargets.contains(data[0]) { return -1 }
    fuzzOne(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

/// libFuzzer's start-up hook. With `WIREFUZZER_WRITE_SEEDS=DIR` in the environment the binary
/// writes the generated seeds (small valid sequence states, snapshots and frames, each prefixed
/// with its selector byte) into DIR and exits instead of fuzzing. See `Fuzz/make-corpus.sh`.
@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<CInt>?, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> CInt {
    guard let raw = getenv("WIREFUZZER_WRITE_SEEDS") else { return 0 }
    let directory = String(cString: raw)
    for seed in SeedCorpus.generated() {
        let path = directory + "/" + seed.name
        guard let file = fopen(path, "wb") else {
            print("cannot write \(path)")
            exit(1)
        }
        let bytes = [seed.target.rawValue] + seed.bytes
        let written = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        fclose(file)
        guard written == bytes.count else {
            print("short write to \(path)")
            exit(1)
        }
        print("wrote \(path) (\(bytes.count) bytes)")
    }
    exit(0)
}
