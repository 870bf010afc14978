import Foundation

/// What a failed file operation's error says, for a sentence: the system's reason ("No space left
/// on device", "Not a directory") where Foundation wraps one, instead of its generic
/// "The operation could not be completed. (NSCocoaErrorDomain error 512.)".
public func systemErrorText(_ error: Error) -> String {
    var e = error as NSError
    while e.domain != NSPOSIXErrorDomain, let underlying = e.userInfo[NSUnderlyingErrorKey] as? NSError { e = underlying }
    return e.domain == NSPOSIXErrorDomain ? String(cString: strerror(Int32(e.code))) : (error as NSError).localizedDescription
}
