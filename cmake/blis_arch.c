/* Configure-time probe: prints the kernel set BLIS selects on this machine. */
#include <blis.h>
#include <stdio.h>

int main(void)
{
    printf("%s\n", bli_arch_string(bli_arch_query_id()));
    return 0;
}
