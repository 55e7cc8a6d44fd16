using Levee.Broker.Security;

namespace Levee.Broker.Network;

/// <summary>A connection feature set once its TLS handshake completed: who the client's certificate says it is.</summary>
/// <param name="Principal">The mapped principal, <c>User:ANONYMOUS</c> when the client sent no certificate.</param>
public sealed record TlsPeer(KafkaPrincipal Principal);
