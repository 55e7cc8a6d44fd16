using Levee.Broker.Partitions;
using Levee.Broker.Requests;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>DescribeCluster (v0-v1): the brokers and the controller.</summary>
public sealed class DescribeClusterHandler(ReplicaManager replicas, BrokerIdentity identity) : ApiHandler<DescribeClusterRequest, DescribeClusterResponse>
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
        var response = new DescribeClusterResponse { ClusterId = replicas.ClusterId, ControllerId = identity.NodeId, EndpointType = request.EndpointType };
        if (request.EndpointType != BrokerEndpoints)
        {
            response.ErrorCode = (short)ErrorCode.UnsupportedEndpointType;
            response.ErrorMessage = "Only broker endpoints (type 1) are served by brokers.";
            return ValueTask.FromResult<DescribeClusterResponse?>(response);
        }

        response.Brokers.Add(new DescribeClusterResponse.DescribeClusterBroker { BrokerId = identity.NodeId, Host = identity.Host, Port = identity.Port });
        return ValueTask.FromResult<DescribeClusterResponse?>(response);
    }
}
