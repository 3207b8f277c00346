/*
 * The conformance program: conformance SPEC [TEST-GLOB] (see conformance.c).
 * Programs that run the suite over a server in their own process have the
 * harness's main() instead (harness.c).
 */
#include "conformance.h"

int main(int argc, char **argv)
{
	return conformance_main(argc, argv);
}
