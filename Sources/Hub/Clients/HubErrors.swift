import Core
import Foundation
import NIOHTTP1

/// Turns a hub's HTTP answer into an error that tells the user what to do.
enum HubErrors {
    static func retryAfter(_ headers: HTTPHeaders) -> Int {
        if let value = headers.first(name: "Retry-After"), let seconds = Int(value) { return max(1, seconds) }
        return 60
    }

    static func civitai(_ status: HTTPResponseStatus, headers: HTTPHeaders, body: String, what: String, hasToken: Bool) -> AppError {
        let message = serverMessage(body)
        switch status.code {
        case 401:
            return civitaiLogin(what: what, hasToken: hasToken)
        case 403:
            return AppError(
                .forbidden,
                "Civitai refused \(what)" + (message.map { ": \($0)" } ?? "")
                    + ". It may be in early access or need a membership; open it on civitai.com with the account of your token",
                code: "hub_forbidden"
            )
        case 404:
            return AppError(.notFound, "\(what) not found on Civitai", code: "hub_not_found")
        case 429:
            let wait = retryAfter(headers)
            return .rateLimited("Civitai is rate limiting downloads; retry in \(wait) seconds", retryAfter: wait)
        case 500...599:
            return AppError(.badGateway, "Civitai failed (HTTP \(status.code)) for \(what); try again later", code: "hub_unavailable")
        default:
            return AppError(
                .badGateway,
                "Civitai answered HTTP \(status.code) for \(what)" + (message.map { ": \($0)" } ?? ""),
                code: "hub_error"
            )
        }
    }

    /// Civitai wants a signed-in user (a 401, or its sign-in page). Without a key that is a 403:
    /// the model needs one (seed 000's list); with a key, the key was refused (401, as the seed says).
    static func civitaiLogin(what: String, hasToken: Bool) -> AppError {
        hasToken
            ? AppError(
                .unauthorized,
                "Civitai rejected the API key for \(what); check it (civitai.com → Account → API Keys)",
                code: "civitai_key_rejected"
            )
            : AppError(
                .forbidden,
                "this model needs a Civitai API key (\(what) is only for signed-in users); set CIVITAI_API_TOKEN (civitai.com → Account → API Keys)",
                code: civitaiKeyNeeded
            )
    }

    /// The code of "this model needs a Civitai API key", which routes that take a key reword.
    package static let civitaiKeyNeeded = "civitai_key_needed"

    /// Whether a URL that answered a web page is Civitai's sign-in page (or Civitai itself, whose
    /// download endpoint answers HTML only to ask for a sign-in).
    static func isCivitaiLogin(_ url: URL, civitai base: URL) -> Bool {
        url.path.hasPrefix("/login") || HubHTTP.origin(url) == HubHTTP.origin(base)
    }

    static func huggingFace(
        _ status: HTTPResponseStatus,
        headers: HTTPHeaders,
        repo: String,
        path: String?,
        revision: String,
        hasToken: Bool
    ) -> AppError {
        let code = headers.first(name: "X-Error-Code") ?? ""
        let what = path.map { "\($0) in \(repo)" } ?? repo
        switch (status.code, code) {
        case (_, "GatedRepo"):
            return AppError(
                hasToken ? .forbidden : .unauthorized,
                "\(repo) is gated: accept its licence at https://huggingface.co/\(repo)"
                    + (hasToken ? " with the account of your HF_TOKEN" : " and set HF_TOKEN (or HUGGINGFACE_TOKEN)"),
                code: "hub_gated"
            )
        case (_, "RepoNotFound"):
            return AppError(
                .notFound,
                "repository \(repo) not found on Hugging Face"
                    + (hasToken ? "" : " (if it is private, set HF_TOKEN)"),
                code: "hub_not_found"
            )
        case (_, "RevisionNotFound"):
            return AppError(.notFound, "revision '\(revision)' not found in \(repo)", code: "hub_not_found")
        case (_, "EntryNotFound"):
            return AppError(.notFound, "\(what) not found (revision \(revision))", code: "hub_not_found")
        case (_, "DisabledRepo"):
            return AppError(.forbidden, "\(repo) has been disabled on Hugging Face", code: "hub_forbidden")
        case (401, _):
            // Hugging Face answers 401 without an error code for missing and for private repositories.
            return AppError(
                .unauthorized,
                hasToken
                    ? "Hugging Face rejected HF_TOKEN for \(what); check the token"
                    : "\(repo) was not found, or it is private: set HF_TOKEN (or HUGGINGFACE_TOKEN) to reach private repositories",
                code: "hub_unauthorized"
            )
        case (403, _):
            return AppError(.forbidden, "Hugging Face refused access to \(what)", code: "hub_forbidden")
        case (404, _):
            return AppError(.notFound, "\(what) not found on Hugging Face", code: "hub_not_found")
        case (429, _):
            let wait = retryAfter(headers)
            return .rateLimited("Hugging Face is rate limiting; retry in \(wait) seconds", retryAfter: wait)
        case (500...599, _):
            return AppError(
                .badGateway,
                "Hugging Face failed (HTTP \(status.code)) for \(what); try again later",
                code: "hub_unavailable"
            )
        default:
            return AppError(.badGateway, "Hugging Face answered HTTP \(status.code) for \(what)", code: "hub_error")
        }
    }

    static func unreachable(_ service: String, _ error: HubTransportError) -> AppError {
        if error.isTimeout {
            return AppError(.gatewayTimeout, "\(service) did not answer in time (\(error.url.host ?? "?"))", code: "hub_timeout")
        }
        return AppError(
            .serviceUnavailable,
            "cannot reach \(service) at \(error.url.host ?? "?"): \(error.underlying)",
            code: "hub_unreachable"
        )
    }

    /// The `error`/`message` of a JSON error body, if any, cut short.
    static func serverMessage(_ body: String) -> String? {
        guard let data = body.data(using: .utf8),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return nil }
        let text = (object["message"] as? String) ?? (object["error"] as? String)
        return text.map { String($0.prefix(300)) }
    }
}
