using System.Collections;
using System.Reflection;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Broker.Tenants;
using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol.Messages;

namespace Levee.Broker.Tests.Tenants;

/// <summary>
/// No API of the real broker lets a tenant name something outside its namespace: the names the specs type
/// (entityType) are mapped by the generated <see cref="INamedEntities"/>; the few they leave untyped (config and ACL
/// resource names, coordinator keys) must be mapped by the handler or the API must be one tenants are refused. A new
/// handler that names a resource some other way fails here.
/// </summary>
public sealed class TenantNamespaceSeamTests
{
    // The untyped fields of Kafka's request specs that name a topic, group or transactional id.
    private static readonly HashSet<string> UntypedNames = ["ResourceName", "ResourceNameFilter", "Key", "CoordinatorKeys"];

    [Fact]
    public async Task EveryHandlerWhoseRequestNamesAResourceUntyped_MapsItOrRefusesTenants()
    {
        await using var broker = await TestBroker.StartAsync();
        var checkedAny = false;
        foreach (var handler in broker.Broker.Handlers)
        {
            var types = HandlerTypes(handler.GetType());
            if (types is not var (request, _) || !Untyped(request, []).Any())
            {
                continue;
            }

            checkedAny = true;
            var maps = handler.GetType().GetMethod("MapRequestNames", BindingFlags.Instance | BindingFlags.NonPublic, [request, typeof(TenantNamespace)])?.DeclaringType == handler.GetType();
            var refused = RequestDispatcher.DeclaredAuthorization(handler) is AuthorizeRequestAttribute { Resource: AclResourceType.Cluster, TenantScoped: false } declared
                && declared.Operation is not (AclOperation.Create or AclOperation.IdempotentWrite);
            Assert.True(maps || refused, $"{handler.GetType().Name}: its request names {string.Join(", ", Untyped(request, []))} without an entityType, and it neither maps them (MapRequestNames) nor is refused to tenants.");
        }

        Assert.True(checkedAny);
    }

    [Fact]
    public void EveryRequestThatNamesATopicGroupOrTransactionalId_IsMappedByTheGeneratedCode()
    {
        // Spot checks of the generator's output: the requests a tenant's clients send most.
        Assert.All(
            new[] { typeof(ProduceRequest), typeof(FetchRequest), typeof(MetadataRequest), typeof(ListOffsetsRequest), typeof(OffsetCommitRequest), typeof(OffsetFetchRequest), typeof(JoinGroupRequest), typeof(CreateTopicsRequest), typeof(DeleteTopicsRequest), typeof(InitProducerIdRequest), typeof(DescribeProducersRequest), typeof(TxnOffsetCommitRequest) },
            type => Assert.True(typeof(INamedEntities).IsAssignableFrom(type), type.Name));
    }

    [Fact]
    public void TxnOffsetCommit_TransactionalIdGroupAndTopics_AreInTheTenantsNamespace_AndTopicsComeBackOut()
    {
        var tenant = new TenantNamespace(new Levee.Cluster.Metadata.Tenant("acme", "basic-0", []));
        var request = new TxnOffsetCommitRequest
        {
            TransactionalId = "txn",
            GroupId = "app",
            Topics = [new TxnOffsetCommitRequest.TxnOffsetCommitRequestTopic { Name = "orders" }],
        };
        request.MapNames(tenant.Inbound);
        Assert.Equal(("acme.txn", "acme.app", "acme.orders"), (request.TransactionalId, request.GroupId, request.Topics.Single().Name));

        var response = new TxnOffsetCommitResponse { Topics = [new TxnOffsetCommitResponse.TxnOffsetCommitResponseTopic { Name = "acme.orders" }] };
        response.MapNames(tenant.Outbound);
        Assert.Equal("orders", response.Topics.Single().Name);
    }

    private static (Type Request, Type Response)? HandlerTypes(Type? type)
    {
        for (; type is not null; type = type.BaseType)
        {
            if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(ApiHandler<,>))
            {
                var arguments = type.GetGenericArguments();
                return (arguments[0], arguments[1]);
            }
        }

        return null;
    }

    // The untyped name fields of a message type and the structs it holds.
    private static IEnumerable<string> Untyped(Type type, HashSet<Type> seen)
    {
        if (!seen.Add(type))
        {
            yield break;
        }

        foreach (var property in type.GetProperties(BindingFlags.Instance | BindingFlags.Public))
        {
            var propertyType = property.PropertyType;
            if ((propertyType == typeof(string) || propertyType == typeof(List<string>)) && UntypedNames.Contains(property.Name))
            {
                yield return $"{type.Name}.{property.Name}";
            }

            var element = propertyType.IsGenericType && typeof(IEnumerable).IsAssignableFrom(propertyType) ? propertyType.GetGenericArguments()[0] : propertyType;
            if (element.IsClass && element != typeof(string) && element.Namespace == typeof(ProduceRequest).Namespace)
            {
                foreach (var nested in Untyped(element, seen))
                {
                    yield return nested;
                }
            }
        }
    }
}
