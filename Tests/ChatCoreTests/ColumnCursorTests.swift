@testable import ChatCore
import Testing

/// A column of plain varints is skipped by finding its end, and each value's form is checked
/// as it is read: a value that is not canonical still fails the read, with a typed error.
@Suite struct ColumnCursorTests {
    @Test func plainValuesAreCheckedAsTheyAreRead() throws {
        // Column 0 plain (modes 0): 7, then a padded (non-canonical) zero, then 9; a byte after.
        var reader = ByteReader([7, 0x80, 0x00, 9, 42])
        var column = try ColumnCursor(0, of: 0, count: 3, skipping: &reader)
        #expect(try reader.readByte() == 42)
        #expect(try column.next() == 7)
        #expect(throws: BinaryDecodingError.malformedVarint(offset: 1)) { try column.next() }
    }

    @Test func runsAreCheckedWhenTheCursorIsMade() throws {
        // Column 0 in runs (modes 1): value 4 × 2, then a run longer than the count.
        var reader = ByteReader([4, 2, 5, 9])
        #expect(throws: BinaryDecodingError.self) { _ = try ColumnCursor(0, of: 1, count: 3, skipping: &reader) }
        var fits = ByteReader([4, 2, 5, 1])
        var column = try ColumnCursor(0, of: 1, count: 3, skipping: &fits)
        #expect(try [column.next(), column.next(), column.next()] == [4, 4, 5] && fits.isAtEnd)
    }
}
