# Broken on purpose: an unclosed array expression. check-ps1.sh expects a failure.
$list = @(1, 2
Write-Host $list
