using Levee.Broker.Cluster;
using Levee.Broker.Partitions;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>DescribeCluster (v0-v1): the live brokers and the active controller, from the metadata image.</summary>
[NoAuthorization]
public sealed class DescribeClusterHandler(ReplicaManager replicas, ControllerService controller, RequestAuthorizer authorizer) : ApiHandler<DescribeClusterRequest, DescribeClusterResponse>
{
    private const sbyte BrokerEndpoints = 1;

    /// <inheritdoc />
    public override ApiKey Key => ApiKey.DescribeCluster;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 1;

    /// <inheritdoc />
    protected override DescribeClusterRequest Read(ref KafkaReader reader, short version) => DescribeClusterRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(DescribeClusterResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override ValueTask<DescribeClusterResponse?> HandleAsync(RequestContext context, DescribeClusterRequest request)
    {
        var response = new DescribeClusterResponse { ClusterId = replicas.ClusterId, EndpointType = request.EndpointType };
        if (request.EndpointType != BrokerEndpoints)
        {
            response.ErrorCode = (short)ErrorCode.UnsupportedEndpointType;
            response.ErrorMessage = "Only broker endpoints (type 1) are served by brokers.";
            return ValueTask.FromResult<DescribeClusterResponse?>(response);
        }

        foreach (var broker in replicas.Image.Brokers.Values.Where(b => !b.Fenced))
        {
            if (broker.EndPoint(context.Connection.Listener.Name) is { } endpoint)
            {
                response.Brokers.Add(new DescribeClusterResponse.DescribeClusterBroker { BrokerId = broker.Id, Host = endpoint.Host, Port = endpoint.Port, Rack = broker.Rack });
            }
        }

        response.ControllerId = controller.ActiveControllerId is { } active && response.Brokers.Any(b => b.BrokerId == active)
            ? active
            : response.Brokers.Count > 0 ? response.Brokers[0].BrokerId : -1;
        if (request.IncludeClusterAuthorizedOperations)
        {
            response.ClusterAuthorizedOperations = authorizer.ClusterAuthorizedOperations(context);
        }

        return ValueTask.FromResult<DescribeClusterResponse?>(response);
    }

    /// <inheritdoc />
    protected override DescribeClusterResponse? ErrorResponse(DescribeClusterRequest request, ErrorCode error, string? message) =>
        new() { ErrorCode = (short)error, ErrorMessage = message };
}
