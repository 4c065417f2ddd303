import Foundation

/// Pictures as backends send them: bare base64, `data:image/png;base64,…` URIs, and the size
/// written in a PNG's header.
package enum ImageData {
    /// Bytes of a base64 string or `data:` URI, or nil when it is neither.
    package static func decode(_ text: String) -> Data? {
        var payload = Substring(text)
        if payload.hasPrefix("data:") {
            guard let comma = payload.firstIndex(of: ","), payload[..<comma].hasSuffix(";base64") else { return nil }
            payload = payload[payload.index(after: comma)...]
        }
        guard let data = Data(base64Encoded: String(payload), options: .ignoreUnknownCharacters), !data.isEmpty else { return nil }
        return data
    }

    static let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// The picture's format from its first bytes: PNG, JPEG or WebP (anything else is sent as PNG,
    /// which is what backends assume).
    static func format(_ data: Data) -> (fileExtension: String, mediaType: String) {
        let head = Array(data.prefix(12))
        if head.count >= 3, head[0] == 0xFF, head[1] == 0xD8, head[2] == 0xFF { return ("jpg", "image/jpeg") }
        if head.count == 12, head[0..<4].elementsEqual("RIFF".utf8), head[8..<12].elementsEqual("WEBP".utf8) { return ("webp", "image/webp") }
        return ("png", "image/png")
    }

    /// Width and height from a PNG's IHDR chunk; nil for anything that is not a PNG.
    package static func pngSize(_ data: Data) -> (width: Int, height: Int)? {
        guard data.count >= 24, Array(data.prefix(8)) == pngSignature else { return nil }
        func be32(_ offset: Int) -> Int {
            data.dropFirst(offset).prefix(4).reduce(0) { $0 << 8 | Int($1) }
        }
        return (be32(16), be32(20))
    }
}
