using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol;
using Levee.Protocol.Messages;
using Microsoft.Extensions.DependencyInjection;
using KafkaErrorCode = Levee.Protocol.ErrorCode;

namespace Levee.Broker.Tests.Security;

/// <summary>The request pipeline every request passes: declarations, refusals and failures answered per API.</summary>
public sealed class RequestSeamTests
{
    [Fact]
    public async Task EveryRegisteredHandler_DeclaresItsAuthorization()
    {
        await using var broker = await TestBroker.StartAsync();
        var handlers = broker.Broker.Handlers;
        Assert.Contains(handlers, h => h.Key == ApiKey.Produce);
        Assert.All(handlers, h => Assert.True(RequestDispatcher.DeclaredAuthorization(h) is not null, $"{h.GetType().Name} declares no authorization"));
    }

    [Fact]
    public async Task HandlerWithoutAuthorizationDeclaration_StopsTheBrokerFromStarting()
    {
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            TestBroker.StartAsync(configureServices: s => s.AddSingleton<IApiHandler, UndeclaredHandler>()));
        Assert.Contains(nameof(UndeclaredHandler), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HandlerFailure_AnswersErrorAndKeepsConnection()
    {
        await using var broker = await TestBroker.StartAsync(configureServices: s => s.AddSingleton<IApiHandler, FailingHandler>());
        using var client = await RawKafkaClient.ConnectAsync(broker.BootstrapServers);

        var failed = await SendDescribeLogDirsAsync(client);
        Assert.Equal((short)KafkaErrorCode.UnknownServerError, failed.ErrorCode);
        Assert.Equal((short)KafkaErrorCode.UnknownServerError, Assert.Single(failed.Results).ErrorCode);

        await AssertStillServesAsync(client);
    }

    [Fact]
    public async Task RefusedRequest_AnswersAuthorizationErrorAndKeepsConnection()
    {
        // A client listener's connection is no broker: an API declared CLUSTER_ACTION is refused before its handler.
        await using var broker = await TestBroker.StartAsync(configureServices: s => s.AddSingleton<IApiHandler, ClusterActionHandler>());
        using var client = await RawKafkaClient.ConnectAsync(broker.BootstrapServers);

        var refused = await SendDescribeLogDirsAsync(client);
        Assert.Equal((short)KafkaErrorCode.ClusterAuthorizationFailed, refused.ErrorCode);
        Assert.Empty(refused.Results);
        Assert.False(ClusterActionHandler.Ran);

        await AssertStillServesAsync(client);
    }

    private static async Task<DescribeLogDirsResponse> SendDescribeLogDirsAsync(RawKafkaClient client)
    {
        const short version = 4;
        var id = await client.SendAsync(ApiKey.DescribeLogDirs, version, (ref KafkaWriter w) => new DescribeLogDirsRequest { Topics = null }.Write(ref w, version));
        var body = await client.ReceiveAsync(ApiKey.DescribeLogDirs, version, id);
        Assert.NotNull(body);
        var reader = new KafkaReader(body);
        return DescribeLogDirsResponse.Read(ref reader, version);
    }

    private static async Task AssertStillServesAsync(RawKafkaClient client)
    {
        const short version = 12;
        var id = await client.SendAsync(ApiKey.Metadata, version, (ref KafkaWriter w) => new MetadataRequest { Topics = [] }.Write(ref w, version));
        var body = await client.ReceiveAsync(ApiKey.Metadata, version, id);
        Assert.NotNull(body);
        var reader = new KafkaReader(body);
        Assert.NotEmpty(MetadataResponse.Read(ref reader, version).Brokers);
    }

    [NoAuthorization]
    private sealed class FailingHandler : DescribeLogDirsTestHandler
    {
        protected override ValueTask<DescribeLogDirsResponse?> HandleAsync(RequestContext context, DescribeLogDirsRequest request) =>
            throw new InvalidOperationException("a handler bug");

        protected override DescribeLogDirsResponse? ErrorResponse(DescribeLogDirsRequest request, KafkaErrorCode error, string? message) =>
            new() { ErrorCode = (short)error, Results = [new DescribeLogDirsResponse.DescribeLogDirsResult { LogDir = "/data", ErrorCode = (short)error }] };
    }

    [AuthorizeRequest(AclOperation.ClusterAction, AclResourceType.Cluster)]
    private sealed class ClusterActionHandler : DescribeLogDirsTestHandler
    {
        public static bool Ran { get; private set; }

        protected override ValueTask<DescribeLogDirsResponse?> HandleAsync(RequestContext context, DescribeLogDirsRequest request)
        {
            Ran = true;
            return ValueTask.FromResult<DescribeLogDirsResponse?>(new DescribeLogDirsResponse());
        }
    }

    private sealed class UndeclaredHandler : DescribeLogDirsTestHandler
    {
        protected override ValueTask<DescribeLogDirsResponse?> HandleAsync(RequestContext context, DescribeLogDirsRequest request) =>
            ValueTask.FromResult<DescribeLogDirsResponse?>(new DescribeLogDirsResponse());
    }
}
