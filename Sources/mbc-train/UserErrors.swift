import ArgumentParser
import Foundation
import MBData
import MBTrain

/// Runs `body`; a user error (bad config, bad file) becomes one line on stderr and exit code 2,
/// never a stack trace.
func userErrors<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let e as ConfigError {
        FileHandle.standardError.write(Data("error: \(e.message)\n".utf8))
        throw ExitCode(2)
    } catch let e as DataError {
        FileHandle.standardError.write(Data("error: \(e.message)\n".utf8))
        throw ExitCode(2)
    }
}

/// The one-line message of an error caused by bad input, or nil for any other error.
func userErrorText(_ error: Error) -> String? {
    switch error {
    case let e as ConfigError: return e.message
    case let e as DataError: return e.message
    case let e as CheckpointError: return e.message
    default: return nil
    }
}
