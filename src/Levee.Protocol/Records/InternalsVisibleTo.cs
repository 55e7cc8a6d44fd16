using System.Runtime.CompilerServices;

// The records tests check internal reference implementations (the table CRC) against the public ones.
[assembly: InternalsVisibleTo("Levee.Protocol.Tests")]
