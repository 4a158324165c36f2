/// A generated avatar for users without one: a 5×5 grid, mirrored left to right, drawn from the
/// user's key.
///
/// Bits 8 to 22 of the key's 64-bit FNV-1a hash (``UserColor/fnv1a(_:)``, whose low bits pick
/// the colour slot) fill the left three columns, row by row; columns 3 and 4 mirror 1 and 0.
/// A key whose 15 bits are all zero gets the centre cell, so no identicon is blank.
public enum Identicon {
    /// The grid's side, in cells.
    public static let size = 5
    /// The background fill.
    public static let background = RGB(packed: 0xF0F0F0)

    /// The filled cells: `grid[row][column]`, 5 rows of 5, symmetric about the middle column.
    public static func grid(for user: ReplicaID) -> [[Bool]] {
        let bits = UserColor.fnv1a(user.bytes) >> 8
        var grid = [[Bool]](repeating: [Bool](repeating: false, count: size), count: size)
        var any = false
        for row in 0 ..< size {
            for column in 0 ..< 3 {
                let filled = (bits >> UInt64(row * 3 + column)) & 1 == 1
                grid[row][column] = filled
                grid[row][size - 1 - column] = filled
                any = any || filled
            }
        }
        if !any { grid[size / 2][size / 2] = true }
        return grid
    }

    /// The identicon as a small SVG document: a light grey background and one square per filled
    /// cell in `color`, on a `viewBox` of 5×5 units drawn `pixels` wide.
    public static func svg(for user: ReplicaID, color: RGB, pixels: Int = 40) -> String {
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(size) \(size)\" "
            + "width=\"\(pixels)\" height=\"\(pixels)\" shape-rendering=\"crispEdges\">"
        out += "<rect width=\"\(size)\" height=\"\(size)\" fill=\"\(background.hex)\"/>"
        for (row, cells) in grid(for: user).enumerated() {
            for (column, filled) in cells.enumerated() where filled {
                out += "<rect x=\"\(column)\" y=\"\(row)\" width=\"1\" height=\"1\" fill=\"\(color.hex)\"/>"
            }
        }
        out += "</svg>"
        return out
    }
}
