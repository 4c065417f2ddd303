import Foundation

/// A file to send: one Telegram already has (its `file_id`, sent again without uploading), a URL
/// Telegram fetches itself, or bytes uploaded as multipart/form-data.
package enum InputFile: Sendable, Equatable {
    case fileID(String)
    case url(String)
    case upload(filename: String, contentType: String, data: Data)
}
