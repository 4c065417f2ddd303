import SQLKit

/// Many rows of values as one table expression `v` for a single INSERT … SELECT or UPDATE … FROM,
/// so a batch of jobs is one statement.
///
/// On PostgreSQL each column is one array parameter, unpacked by `unnest`: the statement's text
/// and parameter count are the same for 1 row or 1,000, so the server parses a short statement
/// and the client encodes a dozen arrays instead of thousands of single values (per-row binds
/// were most of the enqueue's database cost). On SQLite it is a VALUES list.
///
/// PostgreSQL arrays of text cannot hold NULL through the driver, so a nullable text column
/// carries NULL as the empty string: such a column cannot store "" (callers keep "" out).
package struct BulkRows: Sendable {
    enum Values: Sendable {
        case text([String])
        case optionalText([String?])
        case bigint([Int64])
    }

    private var names: [String] = []
    private var columns: [Values] = []
    package private(set) var count: Int

    package init(count: Int) { self.count = count }

    package mutating func text(_ name: String, _ values: [String]) {
        add(name, .text(values), values.count)
    }

    /// A nullable text column (see the note on the empty string above).
    package mutating func optionalText(_ name: String, _ values: [String?]) {
        add(name, .optionalText(values), values.count)
    }

    package mutating func bigint(_ name: String, _ values: [Int64]) {
        add(name, .bigint(values), values.count)
    }

    private mutating func add(_ name: String, _ values: Values, _ rows: Int) {
        precondition(rows == count, "every column of BulkRows has one value per row")
        names.append(name)
        columns.append(values)
    }

    /// `(SELECT … ) AS v`, with the columns under their names.
    package func table(for kind: DatabaseKind) -> SQLQueryString {
        kind == .postgres ? unnest() : valuesList()
    }

    private func unnest() -> SQLQueryString {
        var select: SQLQueryString = "(SELECT "
        var arrays: SQLQueryString = " FROM unnest("
        for (index, (name, values)) in zip(names, columns).enumerated() {
            let separator = index == 0 ? "" : ", "
            switch values {
            case .text(let strings):
                select += "\(unsafeRaw: separator)u.\(ident: name)"
                arrays += "\(unsafeRaw: separator)\(bind: strings)::text[]"
            case .optionalText(let strings):
                select += "\(unsafeRaw: separator)NULLIF(u.\(ident: name), '') AS \(ident: name)"
                arrays += "\(unsafeRaw: separator)\(bind: strings.map { $0 ?? "" })::text[]"
            case .bigint(let numbers):
                select += "\(unsafeRaw: separator)u.\(ident: name)"
                arrays += "\(unsafeRaw: separator)\(bind: numbers)::bigint[]"
            }
        }
        var list: SQLQueryString = ""
        for (index, name) in names.enumerated() { list += "\(unsafeRaw: index == 0 ? "" : ", ")\(ident: name)" }
        return select + arrays + ") AS u(" + list + ")) AS v"
    }

    private func valuesList() -> SQLQueryString {
        var select: SQLQueryString = "(SELECT "
        for (index, name) in names.enumerated() {
            select += "\(unsafeRaw: index == 0 ? "" : ", ")column\(unsafeRaw: String(index + 1)) AS \(ident: name)"
        }
        select += " FROM (VALUES "
        for row in 0..<count {
            select += "\(unsafeRaw: row == 0 ? "(" : ", (")"
            for (index, values) in columns.enumerated() {
                let separator = index == 0 ? "" : ", "
                switch values {
                case .text(let strings): select += "\(unsafeRaw: separator)\(bind: strings[row])"
                case .optionalText(let strings): select += "\(unsafeRaw: separator)\(bind: strings[row])"
                // SQLite types a bound Int64 as INTEGER; the CAST keeps comparisons numeric.
                case .bigint(let numbers): select += "\(unsafeRaw: separator)CAST(\(bind: numbers[row]) AS BIGINT)"
                }
            }
            select += ")"
        }
        return select + ")) AS v"
    }
}
