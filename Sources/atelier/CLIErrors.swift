import ArgumentParser
import AtelierApp
import Core
import Foundation
import Storage

/// Turns errors into one plain line on standard error and an exit code: 2 for a bad setting or
/// argument, 1 for anything else. No stack traces.
enum CLIErrors {
    static func report(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as ExitCode {
            throw error
        } catch let error as ConfigurationError {
            printError("atelier: \(error.description)")
            throw ExitCode(2)
        } catch let error as AppError {
            printError("atelier: \(error.detail)")
            throw ExitCode(error.status.code == 422 || error.status.code == 400 ? 2 : 1)
        } catch let error as DatabaseUnavailable {
            printError("atelier: \(error.description)")
            throw ExitCode(1)
        } catch {
            printError("atelier: \(error)")
            throw ExitCode(1)
        }
    }
}
