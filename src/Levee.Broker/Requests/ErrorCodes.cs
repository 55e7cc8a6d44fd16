using Levee.Cluster.Quorum;
using Levee.Protocol;
using Levee.Storage;
using Levee.Storage.ProducerState;

namespace Levee.Broker.Requests;

/// <summary>The error a failed request is answered with, from the exception that failed it (Kafka's Errors.forException).</summary>
public static class ErrorCodes
{
    /// <summary>The error code for <paramref name="exception"/>: a known cause's code, else UNKNOWN_SERVER_ERROR.</summary>
    public static ErrorCode ForException(Exception exception) => exception switch
    {
        NotControllerException => ErrorCode.NotController,
        ProducerStateException producer => producer.ErrorCode,
        OffsetOutOfRangeException => ErrorCode.OffsetOutOfRange,
        TimeoutException or OperationCanceledException => ErrorCode.RequestTimedOut,
        _ => ErrorCode.UnknownServerError,
    };
}
