import Foundation

/// What a fake server reads from a multipart/form-data upload.
enum MultipartParts {
    /// The parts of a multipart/form-data body: name → (filename, bytes).
    static func parse(_ body: Data, contentType: String) -> [String: (filename: String?, data: Data)] {
        guard let boundary = contentType.components(separatedBy: "boundary=").last, contentType.hasPrefix("multipart/form-data") else { return [:] }
        let delimiter = Data("--\(boundary)".utf8)
        var parts: [String: (filename: String?, data: Data)] = [:]
        var rest = body[...]
        while let start = rest.range(of: delimiter) {
            rest = rest[start.upperBound...]
            guard let end = rest.range(of: delimiter) else { break }
            var part = rest[..<end.lowerBound]
            guard part.starts(with: Data("\r\n".utf8)), let split = part.range(of: Data("\r\n\r\n".utf8)) else { continue }
            let headers = String(decoding: part[part.startIndex..<split.lowerBound], as: UTF8.self)
            part = part[split.upperBound...]
            if part.suffix(2) == Data("\r\n".utf8) { part = part.dropLast(2) }
            func quoted(_ key: String) -> String? {
                guard let range = headers.range(of: "\(key)=\"") else { return nil }
                return String(headers[range.upperBound...].prefix { $0 != "\"" })
            }
            if let name = quoted("name") { parts[name] = (quoted("filename"), Data(part)) }
        }
        return parts
    }
}
