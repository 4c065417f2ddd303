/// `Result` of async work: run it, keep what it gave or threw, then clean up before `get()` (close
/// a database, stop a server) whichever way it went.
extension Result where Failure == any Error {
    package init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
