/// An error that is one message for whoever reads it: what went wrong, and what to do. Each kind
/// of failure is its own type (a caller catches the kinds it can explain) with the same shape:
///
///     public struct ConfigError: MessageError { public let message: String; public init(_ message: String) { self.message = message } }
public protocol MessageError: Error, CustomStringConvertible, Equatable {
    var message: String { get }
}

extension MessageError {
    public var description: String { message }
}
