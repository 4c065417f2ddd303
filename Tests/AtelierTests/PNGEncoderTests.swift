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

@Suite("PNG encoder", .timeLimit(.minutes(5)))
struct PNGEncoderTests {
    /// The pixels back from a PNG this encoder wrote: chunk CRCs checked, IDAT inflated by zlib,
    /// rows unfiltered (None, Sub, Up).
    static func decode(_ png: Data) throws -> (width: Int, height: Int, rgb: [UInt8]) {
        let bytes = [UInt8](png)
        #expect(Array(bytes.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var offset = 8
        var width = 0
        var height = 0
        var idat = ByteBuffer()
        func be32(_ at: Int) -> Int { bytes[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) } }
        while offset < bytes.count {
            let length = be32(offset)
            let type = String(decoding: bytes[(offset + 4)..<(offset + 8)], as: UTF8.self)
            let body = Array(bytes[(offset + 8)..<(offset + 8 + length)])
            #expect(UInt32(be32(offset + 8 + length)) == CRC32.checksum(Array(bytes[(offset + 4)..<(offset + 8 + length)])), "CRC of \(type)")
            if type == "IHDR" { (width, height) = (be32(offset + 8), be32(offset + 12)) }
            if type == "IDAT" { idat.writeBytes(body) }
            offset += 12 + length
        }
        var inflated = ByteBuffer()
        inflated.reserveCapacity((width * 3 + 1) * height)
        try idat.decompress(to: &inflated, with: .zlib())
        let raw = Array(inflated.readableBytesView)
        let stride = width * 3
        try #require(raw.count == (stride + 1) * height)
        var rgb = [UInt8](repeating: 0, count: stride * height)
        for y in 0..<height {
            let filter = raw[y * (stride + 1)]
            for x in 0..<stride {
                let value = raw[y * (stride + 1) + 1 + x]
                let left = x >= 3 ? rgb[y * stride + x - 3] : 0
                let above = y > 0 ? rgb[(y - 1) * stride + x] : 0
                switch filter {
                case 0: rgb[y * stride + x] = value
                case 1: rgb[y * stride + x] = value &+ left
                case 2: rgb[y * stride + x] = value &+ above
                default: Issue.record("filter \(filter) is not one the encoder writes")
                }
            }
        }
        return (width, height, rgb)
    }

    @Test("images decode back to their pixels (zlib, per-row filters, CRCs) with either filter choice; gradients compress")
    func roundTrip() throws {
        var random = SystemRandomNumberGenerator()
        let noise = (0..<(33 * 21 * 3)).map { _ in UInt8.random(in: 0...255, using: &random) }
        var gradient: [UInt8] = []
        for y in 0..<64 {
            for x in 0..<44 { gradient += [UInt8(x * 5), UInt8(y * 3), (x / 16 + y / 16) % 2 == 0 ? 0 : 200] }
        }
        let images: [(Int, Int, [UInt8])] = [(33, 21, noise), (44, 64, gradient), (1, 1, [1, 2, 3]), (2, 3, Array(0..<18))]
        for (width, height, rgb) in images {
            for filter in [PNGEncoder.RowFilter.adaptive, .up] {
                let png = PNGEncoder.encode(width: width, height: height, rgb: rgb, filter: filter)
                let decoded = try Self.decode(png)
                #expect(decoded.width == width && decoded.height == height && decoded.rgb == rgb, "\(width)×\(height) \(filter)")
            }
        }
        #expect(PNGEncoder.encode(width: 44, height: 64, rgb: gradient).count < 1_000)
        #expect(PNGEncoder.encode(width: 44, height: 64, rgb: gradient, filter: .up).count < 1_000)
    }

    @Test("the mock's picture: Up-filtered rows, a real PNG that zlib reads back, the same for the same prompt and seed")
    func mockPicture() throws {
        let params = GenerationParams(prompt: "a lighthouse at dusk", width: 768, height: 512)
        let first = MockBackend.render(params, seed: 42)
        #expect(first.png == MockBackend.render(params, seed: 42).png)
        #expect(first.png != MockBackend.render(params, seed: 43).png)
        let decoded = try Self.decode(first.png)
        #expect(decoded.width == 64 && decoded.height == 42 && first.png.count < 1_000)
        // The picture, pixel by pixel: red left to right, green top to bottom, a 16 px blue checker.
        let d = SHA256.hash(data: Data("a lighthouse at dusk||42".utf8)).map(Int.init)
        var expected: [UInt8] = []
        for y in 0..<42 {
            for x in 0..<64 {
                expected += [
                    UInt8((d[0] * (64 - x) + d[3] * x) / 64), UInt8((d[1] * (42 - y) + d[4] * y) / 42),
                    UInt8((x / 16 + y / 16) % 2 == 0 ? d[2] : d[2] ^ d[5]),
                ]
            }
        }
        #expect(decoded.rgb == expected)
    }
}
