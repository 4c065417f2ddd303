import Core
import Foundation
import NIOCore

/// Refuses to save an error page as a model. Hubs answer some failures (login walls, expired
/// links) with a 200 HTML or JSON page; a `.safetensors` file must start with its 8-byte header
/// length followed by a JSON header.
enum ContentCheck {
    /// An HTML answer where another kind of file was asked for.
    static func isWebPage(_ value: String?, filename: String) -> Bool {
        (value?.lowercased().hasPrefix("text/html") ?? false) && !filename.lowercased().hasSuffix(".html")
    }

    static func contentType(_ value: String?, filename: String, host: String) throws {
        guard let value = value?.lowercased() else { return }
        let lowerName = filename.lowercased()
        if value.hasPrefix("text/html") && !lowerName.hasSuffix(".html") {
            throw AppError(
                .badGateway,
                "\(host) sent a web page instead of \(filename) (a login or error page?); check the link and your token",
                code: "not_a_model_file"
            )
        }
        if value.hasPrefix("application/json") && !lowerName.hasSuffix(".json") {
            throw AppError(
                .badGateway,
                "\(host) sent a JSON message instead of \(filename); check the link and your token",
                code: "not_a_model_file"
            )
        }
    }

    static func leadingBytes(_ buffer: ByteBuffer, filename: String, host: String) throws {
        let lowerName = filename.lowercased()
        let head = buffer.getBytes(at: buffer.readerIndex, length: min(16, buffer.readableBytes)) ?? []
        let looksLikeMarkup = head.first.map { $0 == UInt8(ascii: "<") } ?? false
        if looksLikeMarkup && !(lowerName.hasSuffix(".html") || lowerName.hasSuffix(".xml") || lowerName.hasSuffix(".svg")) {
            throw AppError(
                .badGateway,
                "\(host) sent a web page instead of \(filename); check the link and your token",
                code: "not_a_model_file"
            )
        }
        guard lowerName.hasSuffix(".safetensors") else { return }
        guard head.count >= 9 else {
            throw AppError(.badGateway, "\(filename) from \(host) is too short to be a safetensors file", code: "not_a_model_file")
        }
        let headerLength = head[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength >= 2, headerLength < 100_000_000, head[8] == UInt8(ascii: "{") else {
            throw AppError(
                .badGateway,
                "\(filename) from \(host) is not a safetensors file (its header is wrong); the server may have sent an error page",
                code: "not_a_model_file"
            )
        }
    }
}

/// `Content-Disposition: attachment; filename="x.safetensors"; filename*=UTF-8''x.safetensors`.
enum ContentDisposition {
    static func filename(_ header: String?) -> String? {
        guard let header else { return nil }
        var plain: String?
        for part in header.split(separator: ";").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            let lower = part.lowercased()
            if lower.hasPrefix("filename*=") {
                let value = part.dropFirst("filename*=".count)
                if let quote = value.range(of: "''") {
                    return String(value[quote.upperBound...]).removingPercentEncoding
                }
            } else if lower.hasPrefix("filename=") {
                plain = String(part.dropFirst("filename=".count)).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            }
        }
        return plain
    }
}
