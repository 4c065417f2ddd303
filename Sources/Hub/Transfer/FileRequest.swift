import Core
import Foundation
import NIOHTTP1

/// Everything the downloader needs to fetch one file.
package struct FileRequest: Sendable {
    /// Where to ask first (a hub download endpoint; it may redirect to a CDN).
    package var url: URL
    /// Sent to `url`'s host only, never across a redirect to another host.
    package var credentials: Secret?
    package var expectedSize: Int64?
    /// Lower-case hex; the download fails (and the partial file is discarded) on a mismatch.
    package var expectedSHA256: String?
    /// The name the file will get; decides the content checks (`.safetensors`, `.json`).
    package var filename: String
    /// How to explain an HTTP error from the first request (hub-specific advice).
    package var describeError: @Sendable (HTTPResponseStatus, HTTPHeaders, String) -> AppError
    /// How to explain a web page where the file should be, given the URL that served it (a hub's
    /// sign-in page means "this needs a key"); nil from it, or no closure, gives the generic error.
    package var describeWebPage: (@Sendable (URL) -> AppError?)?

    package init(
        url: URL,
        credentials: Secret?,
        expectedSize: Int64?,
        expectedSHA256: String?,
        filename: String,
        describeError: @escaping @Sendable (HTTPResponseStatus, HTTPHeaders, String) -> AppError
    ) {
        self.url = url
        self.credentials = credentials
        self.expectedSize = expectedSize
        self.expectedSHA256 = expectedSHA256?.lowercased()
        self.filename = filename
        self.describeError = describeError
    }
}
