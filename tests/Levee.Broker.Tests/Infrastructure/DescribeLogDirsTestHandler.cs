using Levee.Broker.Requests;
using Levee.Protocol;
using Levee.Protocol.Messages;
using KafkaErrorCode = Levee.Protocol.ErrorCode;

namespace Levee.Broker.Tests.Infrastructure;

/// <summary>A DescribeLogDirs v4 handler for tests to drive the request pipeline with (registered after the broker's own, it replaces it).</summary>
public abstract class DescribeLogDirsTestHandler : ApiHandler<DescribeLogDirsRequest, DescribeLogDirsResponse>
{
    public override ApiKey Key => ApiKey.DescribeLogDirs;

    public override short MinVersion => 4;

    public override short MaxVersion => 4;

    protected override DescribeLogDirsRequest Read(ref KafkaReader reader, short version) => DescribeLogDirsRequest.Read(ref reader, version);

    protected override void Write(DescribeLogDirsResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    protected override DescribeLogDirsResponse? ErrorResponse(DescribeLogDirsRequest request, KafkaErrorCode error, string? message) =>
        new() { ErrorCode = (short)error };
}
