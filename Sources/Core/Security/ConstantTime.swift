/// Comparison of secrets (API key hashes, webhook tokens, signatures) that takes the same time
/// wherever the first difference is, so timing does not reveal how much of a guess was right.
package enum ConstantTime {
    package static func equal(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for index in x.indices { difference |= x[index] ^ y[index] }
        return difference == 0
    }
}
