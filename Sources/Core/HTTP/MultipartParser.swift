import Foundation
import NIOCore

/// Reads an incoming `multipart/form-data` body (RFC 7578 over RFC 2046), the way browsers and
/// OpenAI's SDKs upload files. The whole body is in memory already (the server's body limit
/// bounds it), so parts are found by searching the bytes for the boundary, never line by line.
/// `MultipartForm` is the encoder for outgoing bodies; this is its reading counterpart.
package enum MultipartParser {
    package struct Part: Sendable {
        /// The form field (`name` of Content-Disposition).
        package var name: String
        /// Present for file fields, possibly empty ("filename=\"\"" is how browsers send no file).
        package var filename: String?
        package var contentType: String?
        package var data: Data

        package init(name: String, filename: String? = nil, contentType: String? = nil, data: Data) {
            self.name = name
            self.filename = filename
            self.contentType = contentType
            self.data = data
        }

        /// The content as text: form fields are UTF-8 (RFC 7578 §5.1).
        package var text: String { String(decoding: data, as: UTF8.self) }
    }

    package struct Limits: Sendable {
        package var maxParts: Int
        /// The header block of one part; real ones are a few hundred bytes.
        package var maxHeaderBytes: Int

        package init(maxParts: Int = 32, maxHeaderBytes: Int = 8 * 1024) {
            self.maxParts = maxParts
            self.maxHeaderBytes = maxHeaderBytes
        }
    }

    static let advice = "send multipart/form-data with a file field"

    package static func parse(_ body: ByteBuffer, contentType: String?, limits: Limits = Limits()) throws -> [Part] {
        try parse(Data(body.readableBytesView), contentType: contentType, limits: limits)
    }

    /// The parts in the order sent. Throws a 400 saying what is malformed; the preamble before
    /// the first boundary and the epilogue after the last are ignored, as RFC 2046 says.
    package static func parse(_ body: Data, contentType: String?, limits: Limits = Limits()) throws -> [Part] {
        let boundary = try boundary(in: contentType)
        // Integer offsets below assume the data starts at 0, which a slice need not.
        let body = body.startIndex == 0 ? body : Data(body)
        let opening = Data(("--" + boundary).utf8)
        let delimiter = Data(("\r\n--" + boundary).utf8)

        var cursor: Int
        if body.starts(with: opening) {
            cursor = opening.count
        } else if let found = body.range(of: delimiter) {
            cursor = found.upperBound
        } else {
            throw malformed("no boundary line \"--\(boundary)\" was found (is the body empty or the boundary wrong?)")
        }

        var parts: [Part] = []
        while true {
            if matches(body, at: cursor, "--") { return parts }
            // Transport padding: whitespace may follow a boundary before its line break.
            while cursor < body.count, body[cursor] == UInt8(ascii: " ") || body[cursor] == UInt8(ascii: "\t") { cursor += 1 }
            guard matches(body, at: cursor, "\r\n") else {
                throw malformed("a boundary line is not followed by CRLF (lines must end with \\r\\n)")
            }
            cursor += 2
            guard parts.count < limits.maxParts else { throw malformed("more than \(limits.maxParts) parts") }

            let (headers, contentStart) = try headerBlock(body, from: cursor, limit: limits.maxHeaderBytes, index: parts.count + 1)
            guard let end = body.range(of: delimiter, in: contentStart..<body.count) else {
                throw malformed("the body ends before the closing boundary \"--\(boundary)--\" (was the upload cut short?)")
            }
            parts.append(try part(headers: headers, data: Data(body[contentStart..<end.lowerBound]), index: parts.count + 1))
            cursor = end.upperBound
        }
    }

    /// The boundary parameter of a `multipart/form-data` Content-Type, quoted or not.
    package static func boundary(in contentType: String?) throws -> String {
        guard let contentType, !contentType.isEmpty else {
            throw AppError.badRequest("the request has no Content-Type; \(advice)")
        }
        let pieces = contentType.split(separator: ";", omittingEmptySubsequences: false)
        let mediaType = pieces.first.map { $0.trimmingWhitespace.lowercased() } ?? ""
        guard mediaType == "multipart/form-data" else {
            throw AppError.badRequest("Content-Type is '\(mediaType.prefix(100))', not multipart/form-data; \(advice)")
        }
        let parameters = Self.parameters(pieces.dropFirst().joined(separator: ";"))
        guard let boundary = parameters["boundary"], !boundary.isEmpty else {
            throw malformed("the Content-Type has no boundary parameter")
        }
        // RFC 2046 §5.1.1: 1–70 characters, none of them a line break.
        guard boundary.utf8.count <= 70, !boundary.contains(where: \.isNewline) else {
            throw malformed("the boundary must be 1–70 characters on one line")
        }
        return boundary
    }

    static func malformed(_ problem: String) -> AppError {
        AppError.badRequest("malformed multipart body: \(problem); \(advice)")
    }

    private static func matches(_ body: Data, at offset: Int, _ text: StaticString) -> Bool {
        let count = text.utf8CodeUnitCount
        guard offset + count <= body.count else { return false }
        return text.withUTF8Buffer { expected in
            expected.indices.allSatisfy { body[offset + $0] == expected[$0] }
        }
    }

    /// The header lines of one part and where its content starts (after the blank line).
    private static func headerBlock(_ body: Data, from start: Int, limit: Int, index: Int) throws -> (String, Int) {
        // No headers at all: the blank line comes at once.
        if matches(body, at: start, "\r\n") { return ("", start + 2) }
        let terminator = Data("\r\n\r\n".utf8)
        let window = start..<min(body.count, start + limit + terminator.count)
        guard let end = body.range(of: terminator, in: window) else {
            if window.upperBound < body.count {
                throw malformed("the headers of part \(index) are over \(limit) bytes")
            }
            throw malformed("the headers of part \(index) do not end with a blank line")
        }
        return (String(decoding: body[start..<end.lowerBound], as: UTF8.self), end.upperBound)
    }

    private static func part(headers: String, data: Data, index: Int) throws -> Part {
        var disposition: String?
        var contentType: String?
        for line in unfolded(headers) {
            guard let colon = line.firstIndex(of: ":") else {
                throw malformed("header line \"\(line.prefix(60))\" of part \(index) has no colon")
            }
            let value = line[line.index(after: colon)...].trimmingWhitespace
            switch line[..<colon].trimmingWhitespace.lowercased() {
            case "content-disposition": disposition = value
            case "content-type": contentType = value
            default: break
            }
        }
        guard let disposition else { throw malformed("part \(index) has no Content-Disposition header") }
        let pieces = disposition.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false)
        let kind = pieces.first.map { $0.trimmingWhitespace.lowercased() } ?? ""
        guard kind == "form-data" else {
            throw malformed("part \(index) has Content-Disposition '\(kind.prefix(40))', not form-data")
        }
        let parameters = Self.parameters(pieces.count > 1 ? String(pieces[1]) : "")
        guard let name = parameters["name"] else {
            throw malformed("part \(index) has no name in its Content-Disposition")
        }
        let filename = parameters["filename*"].flatMap(extendedValue) ?? parameters["filename"]
        return Part(name: name, filename: filename, contentType: contentType, data: data)
    }

    /// Header lines, with obsolete folded continuations (a line starting with whitespace) joined.
    private static func unfolded(_ headers: String) -> [String] {
        var lines: [String] = []
        for line in headers.components(separatedBy: "\r\n") where !line.isEmpty {
            if let first = line.first, first == " " || first == "\t", !lines.isEmpty {
                lines[lines.count - 1] += " " + line.trimmingWhitespace
            } else {
                lines.append(line)
            }
        }
        return lines
    }

    /// `key=value; key="quoted; value"` pairs, keys lowercased; the first of a repeated key wins.
    /// A backslash escapes only `"` and `\`: browsers send Windows paths with bare backslashes.
    static func parameters(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        let characters = Array(text)
        var position = 0
        while position < characters.count {
            while position < characters.count, characters[position] == ";" || characters[position].isWhitespace { position += 1 }
            var key = ""
            while position < characters.count, characters[position] != "=", characters[position] != ";" {
                key.append(characters[position])
                position += 1
            }
            guard position < characters.count, characters[position] == "=" else { continue }
            position += 1
            var value = ""
            if position < characters.count, characters[position] == "\"" {
                position += 1
                while position < characters.count, characters[position] != "\"" {
                    if characters[position] == "\\", position + 1 < characters.count, ["\"", "\\"].contains(characters[position + 1]) {
                        position += 1
                    }
                    value.append(characters[position])
                    position += 1
                }
                position += 1
                while position < characters.count, characters[position] != ";" { position += 1 }
            } else {
                while position < characters.count, characters[position] != ";" {
                    value.append(characters[position])
                    position += 1
                }
                value = value.trimmingWhitespace
            }
            let name = key.trimmingWhitespace.lowercased()
            if !name.isEmpty, result[name] == nil { result[name] = value }
        }
        return result
    }

    /// RFC 8187's `charset'language'percent-encoded` (`filename*=UTF-8''r%C3%A9sum%C3%A9.wav`).
    private static func extendedValue(_ value: String) -> String? {
        let pieces = value.split(separator: "'", maxSplits: 2, omittingEmptySubsequences: false)
        guard pieces.count == 3, pieces[0].lowercased() == "utf-8" else { return nil }
        return String(pieces[2]).removingPercentEncoding
    }
}

extension [MultipartParser.Part] {
    /// The first part sent under `name`.
    package func first(named name: String) -> MultipartParser.Part? {
        first { $0.name == name }
    }

    /// The first text field sent under `name`.
    package func text(_ name: String) -> String? {
        first(named: name)?.text
    }
}
