/// The lines of a fixed-width table for the console: each column as wide as its widest cell, the
/// first column (the names) left-aligned, the others (the numbers) right-aligned, two spaces
/// between columns. Every row has the same number of cells.
public func tableLines(_ rows: [[String]]) -> [String] {
    guard let first = rows.first else { return [] }
    let widths = first.indices.map { c in rows.map { $0[c].count }.max()! }
    return rows.map { row in
        row.enumerated().map { c, cell in
            let pad = String(repeating: " ", count: widths[c] - cell.count)
            return c == 0 ? cell + pad : pad + cell
        }.joined(separator: "  ")
    }
}
