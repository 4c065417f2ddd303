import AtelierApp
import Atomics
import CompressNIO
import Core
import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOConcurrencyHelpers
import NIOCore
import SQLKit
import Storage
import Testing

@testable import Generation

@Suite("Deflate", .timeLimit(.minutes(5)))
struct DeflateTests {
    /// zlib (through CompressNIO) inflates the stream and checks its Adler-32.
    static func inflate(_ stream: [UInt8], expecting count: Int) throws -> [UInt8] {
        var input = ByteBuffer(bytes: stream)
        var output = ByteBuffer()
        output.reserveCapacity(max(count, 1))
        try input.decompress(to: &output, with: .zlib())
        return Array(output.readableBytesView)
    }

    @Test("zlib reads back every shape of input: empty, tiny, runs, periodic rows, long repeats at the window's edge, noise")
    func roundTrip() throws {
        var random = SystemRandomNumberGenerator()
        let noise = (0..<70_000).map { _ in UInt8.random(in: 0...255, using: &random) }
        var periodic: [UInt8] = []
        for row in 0..<50 { periodic += [2] + (0..<192).map { $0 % 3 == 1 ? UInt8(row % 7) : 0 } }
        // A 40 KiB block repeated: matches as far back as deflate allows (32 KiB) and no further.
        let block = Array(noise[0..<40_000])
        let inputs: [(String, [UInt8])] = [
            ("empty", []), ("one byte", [7]), ("three bytes", [1, 2, 3]), ("four equal", [9, 9, 9, 9]),
            ("a run", [UInt8](repeating: 0, count: 100_000)), ("periodic rows", periodic),
            ("every length", (0..<300).flatMap { n in [UInt8](repeating: UInt8(n % 256), count: n) + [1, 2, 3, 4, 5] }),
            ("window edge", block + block), ("noise", noise), ("text", Array(String(repeating: "a lighthouse at dusk, ", count: 500).utf8)),
        ]
        for (name, input) in inputs {
            let stream = input.withUnsafeBufferPointer { Deflate.zlib($0) }
            #expect(try Self.inflate(stream, expecting: input.count) == input, "\(name)")
            #expect(stream.count <= input.count + input.count / 64 + 32, "\(name): \(stream.count) bytes for \(input.count)")
        }
        let runStream = [UInt8](repeating: 0, count: 100_000).withUnsafeBufferPointer { Deflate.zlib($0) }
        #expect(runStream.count < 1_000)  // 258 bytes in 20 bits
        let periodicStream = periodic.withUnsafeBufferPointer { Deflate.zlib($0) }
        #expect(periodicStream.count < periodic.count / 20)
    }

    @Test("Adler-32 matches the definition at every length around the vector steps and blocks")
    func adler32() {
        /// The definition, byte by byte.
        func reference(_ bytes: ArraySlice<UInt8>) -> UInt32 {
            var a: UInt32 = 1
            var b: UInt32 = 0
            for byte in bytes {
                a = (a + UInt32(byte)) % 65_521
                b = (b + a) % 65_521
            }
            return b << 16 | a
        }
        var random = SystemRandomNumberGenerator()
        let bytes = (0..<9_000).map { _ in UInt8.random(in: 0...255, using: &random) }
        for count in [0, 1, 15, 16, 17, 255, 4_095, 4_096, 4_097, 5_552, 5_553, 8_191, 9_000] {
            let value = bytes.withUnsafeBufferPointer { Adler32.checksum(UnsafeBufferPointer(rebasing: $0[0..<count])) }
            #expect(value == reference(bytes[0..<count]), "\(count) bytes")
        }
        let ones = [UInt8](repeating: 255, count: 100_000)
        #expect(ones.withUnsafeBufferPointer { Adler32.checksum($0) } == reference(ones[...]))
    }
}
