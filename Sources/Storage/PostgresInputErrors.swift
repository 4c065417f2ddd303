import Core
import PostgresNIO

/// PostgreSQL errors a request's values can cause, as 422s rather than 500s. Routes validate
/// what they store; this is the net under them for what a route did not think of, such as a NUL
/// character in a path or a header (SQLite stores those as they are; PostgreSQL's text refuses
/// them), or a key too long for its index.
extension PSQLError: ClientInputError {
    package var clientError: AppError? {
        switch serverInfo?[.sqlState] {
        case "22021", "22P05":  // character_not_in_repertoire, untranslatable_character (NUL)
            return AppError(
                .unprocessableContent,
                "a value in this request contains a NUL character (\\u0000), which cannot be stored; remove it",
                code: "validation_error"
            )
        case "54000":  // program_limit_exceeded: an index row over PostgreSQL's limit
            return AppError(.unprocessableContent, "a value in this request is too long to store; shorten it", code: "validation_error")
        default:
            return nil
        }
    }
}
