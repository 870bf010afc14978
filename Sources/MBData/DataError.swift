import MBBase

/// A dataset that cannot be read as expected: one line naming the file, what was found and what
/// was expected, and what to do about it.
public struct DataError: MessageError { public let message: String; public init(_ message: String) { self.message = message } }
