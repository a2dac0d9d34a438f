/*
 * bcryptprimitives.dll for Wine 8, which has none. The Go runtime (1.24 and later) loads
 * ProcessPrng from it at start-up and stops with "bcryptprimitives.dll not found" without it.
 * This DLL exists only so that Windows test binaries start under Wine (scripts/test-windows.sh
 * builds it and puts it in the private WINEPREFIX); Windows itself ships the real one.
 *
 * ProcessPrng fills the buffer from the system-preferred RNG through bcrypt.dll, which Wine
 * implements, in pieces that fit BCryptGenRandom's ULONG length.
 */
#include <windows.h>
#include <bcrypt.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    const SIZE_T piece = 1u << 30;
    while (len > 0) {
        ULONG n = (ULONG)(len < piece ? len : piece);
        if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, data, n, BCRYPT_USE_SYSTEM_PREFERRED_RNG)))
            return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
