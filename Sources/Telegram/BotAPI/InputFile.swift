import Foundation

/// A file to send: one Telegram already has (its `file_id`, sent again without uploading), a URL
/// Telegram fetches itself, or bytes uploaded as multipart/form-data.
package enum InputFile: Sendable, Equatable {
    case fileID(String)
    case url(String)
    case upload(filename: String, contentType: String, data: Data)
}

/// A multipart/form-data body (RFC 7578), as the Bot API takes uploads: plain fields as text,
/// objects as JSON text, files as parts with a file name.
struct MultipartBody {
    let boundary = "atelier-" + UUID().uuidString
    private(set) var data = Data()

    var contentType: String { "multipart/form-data; boundary=\(boundary)" }

    mutating func field(_ name: String, _ value: String) {
        data.append(Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(Self.quoted(name))\"\r\n\r\n".utf8))
        data.append(Data(value.utf8))
        data.append(Data("\r\n".utf8))
    }

    mutating func file(_ name: String, filename: String, contentType: String, _ bytes: Data) {
        data.append(
            Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(Self.quoted(name))\"; filename=\"\(Self.quoted(filename))\"\r\n".utf8)
        )
        data.append(Data("Content-Type: \(contentType)\r\n\r\n".utf8))
        data.append(bytes)
        data.append(Data("\r\n".utf8))
    }

    mutating func finish() -> Data {
        data.append(Data("--\(boundary)--\r\n".utf8))
        return data
    }

    /// Quotes and line breaks cannot end the header value early.
    static func quoted(_ value: String) -> String {
        value.replacingOccurrences(of: "\"", with: "%22").replacingOccurrences(of: "\r", with: "%0D")
            .replacingOccurrences(of: "\n", with: "%0A")
    }
}
